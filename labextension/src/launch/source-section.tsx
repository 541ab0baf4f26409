/**
 * The launch form's "Start from" section: a profile's image, or one of the user's snapshots
 * (a snapshot starts with the profile it was taken from).
 */
import { HTMLSelect } from '@jupyterlab/ui-components';
import * as React from 'react';

import { ISnapshot } from '../contract';
import { formatBytes, formatDate } from '../format';
import { FieldError, IFormViewProps } from './form-parts';

/** A snapshot as one line: its tag, the workspace it was taken of, its profile and date. */
export function snapshotLabel(snapshot: ISnapshot): string {
  const date = formatDate(snapshot.created);
  return `${snapshot.tag} — of ${snapshot.workspace_name} (${snapshot.profile}${date ? `, ${date}` : ''})`;
}

/** "Start from": the profile's image, or one of the user's snapshots. */
export function SourceSection(props: IFormViewProps): JSX.Element {
  const { state, onChange } = props;
  const snapshots = state.snapshots ?? [];
  const chosen = snapshots.find(s => s.image === state.values.snapshot);
  const none = 'No snapshots yet: snapshot a workspace from the GPU Workspaces panel.';
  return (
    <fieldset className="wl-Section" data-testid="wl-source">
      <legend className="wl-Legend">Start from</legend>
      <div className="wl-Row">
        <label className="wl-Inline">
          <input
            type="radio"
            name="wl-source"
            data-testid="wl-source-profile"
            checked={!chosen}
            disabled={state.busy}
            onChange={() => onChange({ snapshot: '' }, ['snapshot', 'profile'])}
          />
          a profile's image
        </label>
        <label className="wl-Inline" title={snapshots.length ? '' : none}>
          <input
            type="radio"
            name="wl-source"
            data-testid="wl-source-snapshot"
            checked={!!chosen}
            disabled={state.busy || snapshots.length === 0}
            onChange={() => onChange({ snapshot: snapshots[0].image }, ['snapshot', 'profile'])}
          />
          a snapshot
        </label>
      </div>
      {chosen ? (
        <>
          <HTMLSelect
            data-testid="wl-snapshot"
            className="wl-Select"
            aria-label="Snapshot"
            value={chosen.image}
            disabled={state.busy}
            onChange={e => onChange({ snapshot: e.target.value }, ['snapshot', 'profile'])}
          >
            {snapshots.map(s => (
              <option key={s.image} value={s.image}>
                {snapshotLabel(s)}
              </option>
            ))}
          </HTMLSelect>
          <div className="wl-Muted" data-testid="wl-snapshot-details">
            {chosen.image} · {formatBytes(chosen.size_bytes)} · its installed packages, not the
            volumes of {chosen.workspace_name}
          </div>
        </>
      ) : (
        snapshots.length === 0 &&
        state.snapshots !== null && (
          <div className="wl-Muted" data-testid="wl-snapshot-none">
            {none}
          </div>
        )
      )}
      <FieldError state={state} field="snapshot" />
    </fieldset>
  );
}
