/** The failure report of a launch: its reason, its log tail and Retry. */
import { Dialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { IWorkspace } from '../contract';
import { element, tagButtons } from '../dom';

/** Show why a launch failed, with its log tail; resolves to true when the user asks to retry. */
export async function showFailure(workspace: IWorkspace): Promise<boolean> {
  const body = element('div', { className: 'wl-Failure' });
  body.appendChild(
    element('p', {
      className: 'wl-Error',
      testid: 'wl-failure-reason',
      text: workspace.error || workspace.message || 'The launch failed.'
    })
  );
  body.appendChild(element('div', { className: 'wl-Muted', text: 'Last lines of its log:' }));
  const log = element('pre', {
    className: 'wl-Log',
    testid: 'wl-failure-log',
    text: workspace.log_tail || '(the workspace wrote no log)'
  });
  body.appendChild(log);
  const dialog = new Dialog({
    title: `Workspace ${workspace.name} failed`,
    body: new Widget({ node: body }),
    buttons: [Dialog.cancelButton({ label: 'Close' }), Dialog.okButton({ label: 'Retry' })],
    hasClose: true
  });
  dialog.addClass('wl-FailureDialog');
  tagButtons(dialog, ['wl-failure-close', 'wl-retry']);
  const shown = dialog.launch();
  // The end of a log says why it failed: show it, not the first steps of the build.
  requestAnimationFrame(() => {
    log.scrollTop = log.scrollHeight;
  });
  const result = await shown;
  return result.button.accept;
}
