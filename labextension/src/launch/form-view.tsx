/**
 * The launch form's view: a pure React rendering of the form state. Every element a browser
 * test needs has a `data-testid` (listed in labextension/README.md).
 */
import { HTMLSelect } from '@jupyterlab/ui-components';
import * as React from 'react';

import { IGpu } from '../contract';
import { describeEstimate, formatMemory } from '../format';
import { Badge, FieldError, IFormViewProps } from './form-parts';
import { IChoice, IFormValues, countChoices, demoOf, gpuChoice, gpuLimit } from './rules';
import { SourceSection } from './source-section';

export { IFormState, IFormViewProps } from './form-parts';

function ProfileSection(props: IFormViewProps): JSX.Element {
  const { state, onChange } = props;
  const profiles = state.profiles ?? [];
  const profile = profiles.find(p => p.name === state.values.profile);
  const fromSnapshot = state.values.snapshot !== '';
  return (
    <fieldset className="wl-Section">
      <legend className="wl-Legend">Profile</legend>
      <HTMLSelect
        id="wl-profile"
        data-testid="wl-profile"
        className="wl-Select"
        aria-label="Profile"
        value={state.values.profile}
        disabled={state.busy || profiles.length === 0 || fromSnapshot}
        title={fromSnapshot ? 'A snapshot starts with the profile it was taken from' : ''}
        onChange={e => onChange({ profile: e.target.value }, ['profile', 'gpus'])}
      >
        {profiles.map(p => (
          <option key={p.name} value={p.name}>
            {p.display_name}
          </option>
        ))}
      </HTMLSelect>
      <FieldError state={state} field="profile" />
      {profile && (
        <div className="wl-ProfileDetails" data-testid="wl-profile-details">
          <div className="wl-Facts">
            <span data-testid="wl-profile-framework">{profile.framework}</span>
            <span data-testid="wl-profile-cuda">
              {profile.cuda_version ? `CUDA ${profile.cuda_version}` : 'no CUDA'}
            </span>
            {profile.built ? (
              <Badge kind="good" title={profile.image ?? ''}>
                built
              </Badge>
            ) : (
              <Badge kind="info" title="The image is built on the first launch; this takes a while">
                will build
              </Badge>
            )}
            {profile.pinned_digest ? (
              <Badge kind="good" title={profile.pinned_digest}>
                pinned
              </Badge>
            ) : (
              <Badge kind="info" title="The base image is not pinned by digest">
                not pinned
              </Badge>
            )}
          </div>
          {profile.description && <div className="wl-Muted">{profile.description}</div>}
          {!profile.built && (
            <div className="wl-BuildEstimate" data-testid="wl-build-estimate">
              {profile.build_estimate
                ? `Launching builds its image first: ${describeEstimate(profile.build_estimate)}.`
                : 'Launching builds its image first; a first build takes a while.'}
            </div>
          )}
        </div>
      )}
    </fieldset>
  );
}

function GpuRow(props: IFormViewProps & { gpu: IGpu; choice: IChoice }): JSX.Element {
  const { gpu, choice, state, onChange } = props;
  const values = state.values;
  const checked = values.gpuMode === 'pick' && values.gpuIds.includes(gpu.uuid);
  const toggle = (on: boolean) => {
    const picked = values.gpuMode === 'pick' ? values.gpuIds : [];
    const gpuIds = on ? [...picked, gpu.uuid] : picked.filter(u => u !== gpu.uuid);
    onChange({ gpuMode: 'pick', gpuIds }, ['gpus']);
  };
  return (
    <tr className={choice.enabled ? '' : 'wl-mod-disabled'} title={choice.reason}>
      <td>
        <input
          type="checkbox"
          id={`wl-gpu-${gpu.uuid}`}
          data-testid={`wl-gpu-${gpu.uuid}`}
          checked={checked}
          disabled={state.busy || !choice.enabled}
          title={choice.reason}
          onChange={e => toggle(e.target.checked)}
        />
      </td>
      <td>
        <label htmlFor={`wl-gpu-${gpu.uuid}`}>
          {gpu.index}: {gpu.name}
        </label>
      </td>
      <td>{formatMemory(gpu.memory_mib)}</td>
      <td
        className={gpu.held_by.length ? 'wl-Held' : 'wl-Free'}
        data-testid={`wl-gpu-status-${gpu.uuid}`}
      >
        {gpu.status}
      </td>
    </tr>
  );
}

/** The radio button choosing how the GPUs are asked for (a number of them, or these ones). */
function GpuModeRadio(
  props: IFormViewProps & { mode: IFormValues['gpuMode']; label: string }
): JSX.Element {
  const { state, onChange, mode } = props;
  return (
    <label className="wl-Inline">
      <input
        type="radio"
        name="wl-gpu-mode"
        data-testid={`wl-gpu-mode-${mode}`}
        checked={state.values.gpuMode === mode}
        disabled={state.busy}
        onChange={() => onChange({ gpuMode: mode, gpuIds: [] }, ['gpus'])}
      />
      {props.label}
    </label>
  );
}

function GpuSection(props: IFormViewProps): JSX.Element {
  const { state, onChange } = props;
  const { values, inventory } = state;
  const profile = state.profiles?.find(p => p.name === values.profile);
  const gpus = inventory?.gpus ?? [];
  // The server's choices for this profile: item n of `counts` is about asking for n GPUs.
  const limit = gpuLimit(inventory, profile);
  const counts = countChoices(inventory, profile);
  const picked = values.gpuMode === 'pick' ? values.gpuIds : [];
  return (
    <fieldset className="wl-Section">
      <legend className="wl-Legend">GPUs</legend>
      <div className="wl-Row">
        <GpuModeRadio {...props} mode="count" label="Number of GPUs" />
        <HTMLSelect
          data-testid="wl-gpu-count"
          className="wl-Select wl-mod-narrow"
          aria-label="Number of GPUs"
          value={values.gpuMode === 'count' ? values.gpuCount : 0}
          disabled={state.busy}
          onChange={e =>
            onChange({ gpuMode: 'count', gpuCount: Number(e.target.value), gpuIds: [] }, ['gpus'])
          }
        >
          {counts.map((choice, n) => (
            <option key={n} value={n} disabled={!choice.enabled} title={choice.reason}>
              {n === 0 ? '0 (CPU only)' : choice.enabled ? `${n}` : `${n} (not allowed)`}
            </option>
          ))}
        </HTMLSelect>
        {gpus.length > 0 && <GpuModeRadio {...props} mode="pick" label="These GPUs:" />}
      </div>
      {gpus.length > 0 ? (
        <table className="wl-GpuTable" data-testid="wl-gpu-table">
          <tbody>
            {gpus.map(gpu => (
              <GpuRow
                key={gpu.uuid}
                {...props}
                gpu={gpu}
                choice={gpuChoice(gpu, picked, inventory, profile)}
              />
            ))}
          </tbody>
        </table>
      ) : (
        <div className="wl-Muted" data-testid="wl-gpu-none">
          {inventory
            ? 'This host reports no GPUs: the workspace runs on CPUs only.'
            : 'Loading GPUs…'}
        </div>
      )}
      {limit.reason && gpus.length > 0 && (
        <div className="wl-Muted" data-testid="wl-gpu-limit">
          At most {limit.max} now: {limit.reason}.
        </div>
      )}
      <FieldError state={state} field="gpus" />
    </fieldset>
  );
}

function DatasetSection(props: IFormViewProps): JSX.Element {
  const { state, onChange } = props;
  const chosen = state.values.datasets;
  const toggle = (name: string, on: boolean) =>
    onChange({ datasets: on ? [...chosen, name] : chosen.filter(d => d !== name) }, ['datasets']);
  return (
    <fieldset className="wl-Section">
      <legend className="wl-Legend">Data</legend>
      {(state.datasets ?? []).map(d => (
        <label key={d.name} className="wl-Dataset" title={`mounted read-only at ${d.mount_path}`}>
          <input
            type="checkbox"
            data-testid={`wl-dataset-${d.name}`}
            checked={chosen.includes(d.name)}
            disabled={state.busy}
            onChange={e => toggle(d.name, e.target.checked)}
          />
          <span>
            <span className="wl-DatasetName">{d.name}</span>{' '}
            <code className="wl-Muted">{d.mount_path}</code> (read-only)
            {d.description && <span className="wl-Muted wl-Block">{d.description}</span>}
          </span>
        </label>
      ))}
      {state.datasets?.length === 0 && (
        <div className="wl-Muted">No shared datasets are configured.</div>
      )}
      <div className="wl-ModelVolume" data-testid="wl-model-volume">
        <code>/models</code> — your model volume (kept across workspaces)
      </div>
      <FieldError state={state} field="datasets" />
    </fieldset>
  );
}

function TextField(
  props: IFormViewProps & {
    field: 'name' | 'cpus' | 'memory' | 'shm_size';
    valueKey: 'name' | 'cpus' | 'memory' | 'shmSize';
    label: string;
    placeholder: string;
    testid: string;
  }
): JSX.Element {
  const { state, onChange, field, valueKey } = props;
  return (
    <div className="wl-Field">
      <label htmlFor={`wl-input-${field}`}>{props.label}</label>
      <input
        id={`wl-input-${field}`}
        data-testid={props.testid}
        className="jp-mod-styled wl-Input"
        value={state.values[valueKey]}
        placeholder={props.placeholder}
        disabled={state.busy}
        onChange={e => onChange({ [valueKey]: e.target.value }, [field])}
      />
      <FieldError state={state} field={field} />
    </div>
  );
}

function OptionsSection(props: IFormViewProps): JSX.Element {
  const { state, onChange } = props;
  const demo = demoOf(state.values, state.profiles);
  return (
    <fieldset className="wl-Section">
      <legend className="wl-Legend">Options</legend>
      <TextField
        {...props}
        field="name"
        valueKey="name"
        label="Name"
        placeholder="generated"
        testid="wl-name"
      />
      {demo && (
        <label className="wl-Inline wl-Demo">
          <input
            type="checkbox"
            data-testid="wl-open-demo"
            checked={state.values.openDemo}
            disabled={state.busy}
            onChange={e => onChange({ openDemo: e.target.checked }, ['open_demo'])}
          />
          Open the demo notebook (<code>{demo}</code>) on start
        </label>
      )}
      <FieldError state={state} field="open_demo" />
      <div className="wl-Resources">
        <TextField
          {...props}
          field="cpus"
          valueKey="cpus"
          label="CPUs"
          placeholder="default"
          testid="wl-cpus"
        />
        <TextField
          {...props}
          field="memory"
          valueKey="memory"
          label="Memory"
          placeholder="e.g. 8g"
          testid="wl-memory"
        />
        <TextField
          {...props}
          field="shm_size"
          valueKey="shmSize"
          label="Shared memory"
          placeholder="e.g. 2g"
          testid="wl-shm-size"
        />
      </div>
    </fieldset>
  );
}

/** The whole form. */
export function LaunchFormView(props: IFormViewProps): JSX.Element {
  const { state } = props;
  const general = state.errors.general ?? state.loadError;
  return (
    <div className="wl-LaunchForm" data-testid="wl-launch-form">
      {general && (
        <div className="wl-Error" data-testid="wl-error" role="alert">
          {general}
        </div>
      )}
      {state.profiles === null && !state.loadError ? (
        <div className="wl-Muted" data-testid="wl-loading">
          Loading profiles…
        </div>
      ) : (
        <>
          <SourceSection {...props} />
          <ProfileSection {...props} />
          <GpuSection {...props} />
          <DatasetSection {...props} />
          <OptionsSection {...props} />
        </>
      )}
    </div>
  );
}
