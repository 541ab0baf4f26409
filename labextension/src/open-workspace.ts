/** Opening a workspace in a new browser tab (from launch progress and from the panel). */
import { IWorkspace } from './contract';

/**
 * Open a workspace in a new tab; false when the browser blocked the new window.
 *
 * `workspace.url` is the host's handshake URL: the host checks the login, then sends the tab
 * to the workspace's own origin with a one-time code (on the demo notebook when the launch
 * asked for it). The new tab's `opener` is cut, so the workspace's pages get no handle on this (host) window.
 * (Not the `noopener` feature: with it `window.open` always returns null, and a blocked
 * pop-up could not be told from an opened one.)
 */
export function openWorkspace(workspace: IWorkspace): boolean {
  const opened = window.open(workspace.url, '_blank');
  if (opened === null) {
    return false;
  }
  opened.opener = null;
  return true;
}
