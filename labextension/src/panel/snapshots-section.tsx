/**
 * The panel's "Snapshots" section: the user's snapshots (the server lists no one else's), each
 * with its source workspace, profile, date and size, to launch from or delete.
 */
import { deleteIcon, runIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { ISnapshot } from '../contract';
import { formatBytes, formatDate } from '../format';

export interface ISnapshotsSectionProps {
  /** The user's snapshots, newest first; null until loaded. */
  snapshots: readonly ISnapshot[] | null;
  /** Why they could not be listed, or null. */
  error: string | null;
  /** The tags of snapshots with a request in flight. */
  busy: ReadonlySet<string>;
  onLaunch: (snapshot: ISnapshot) => void;
  onDelete: (snapshot: ISnapshot) => void;
}

function SnapshotRow(props: ISnapshotsSectionProps & { snapshot: ISnapshot }): JSX.Element {
  const { snapshot: s, busy } = props;
  const date = formatDate(s.created);
  return (
    <li className="wl-Workspace wl-Snapshot" data-testid={`wl-snap-${s.tag}`}>
      <div className="wl-WorkspaceHeader">
        <span className="wl-WorkspaceName" title={s.image}>
          {s.tag}
        </span>
      </div>
      <div className="wl-Meta">
        <span title={`taken of workspace ${s.workspace_id}`}>of {s.workspace_name}</span>
        <span title="profile">{s.profile}</span>
        {date && <span title={s.created}>{date}</span>}
        <span title="image size">{formatBytes(s.size_bytes)}</span>
      </div>
      <div className="wl-Actions">
        <button
          className="jp-Button jp-mod-minimal wl-IconButton"
          title="Launch a workspace from this snapshot…"
          aria-label={`Launch from ${s.tag}`}
          data-testid={`wl-snap-launch-${s.tag}`}
          disabled={busy.has(s.tag)}
          onClick={() => props.onLaunch(s)}
        >
          <runIcon.react tag="span" />
        </button>
        <button
          className="jp-Button jp-mod-minimal wl-IconButton"
          title="Delete this snapshot…"
          aria-label={`Delete ${s.tag}`}
          data-testid={`wl-snap-delete-${s.tag}`}
          disabled={busy.has(s.tag)}
          onClick={() => props.onDelete(s)}
        >
          <deleteIcon.react tag="span" />
        </button>
      </div>
    </li>
  );
}

export function SnapshotsSection(props: ISnapshotsSectionProps): JSX.Element {
  const { snapshots, error } = props;
  return (
    <div className="wl-Snapshots" data-testid="wl-snapshots">
      <div className="wl-PanelHeader">
        <h3 className="wl-PanelTitle">Snapshots</h3>
      </div>
      {error && (
        <div className="wl-Error" data-testid="wl-snapshots-error">
          {error}
        </div>
      )}
      {snapshots?.length === 0 && (
        <div className="wl-Empty" data-testid="wl-snapshots-empty">
          No snapshots. Save a workspace&apos;s installed packages with its snapshot button.
        </div>
      )}
      <ul className="wl-WorkspaceList" data-testid="wl-snapshot-list">
        {(snapshots ?? []).map(s => (
          <SnapshotRow key={s.image} {...props} snapshot={s} />
        ))}
      </ul>
    </div>
  );
}
