/**
 * The "New GPU workspace" dialog: the form body (live profiles, GPU inventory with the
 * server's GPU choices under its policy, and datasets) and a Dialog that stays open on a
 * validation error, showing it next to its field.
 */
import { Dialog, ReactWidget } from '@jupyterlab/apputils';
import * as React from 'react';

import { ApiError, LauncherAPI, errorMessage } from '../api';
import { ILaunchRequest, IWorkspace } from '../contract';
import { pollWhileAttached } from '../poll-while-attached';
import { IFormState, LaunchFormView } from './form-view';
import {
  FormField,
  IFormValues,
  applySnapshot,
  buildRequest,
  chooseProfile,
  defaultGpus,
  emptyValues,
  fitDemoToProfile,
  formErrors,
  fitGpusToProfile
} from './rules';

/**
 * How often the dialog refreshes the GPU inventory (and so the GPU choices, which the server
 * recomputes as GPUs are taken and freed) and profiles, in milliseconds.
 */
const REFRESH_INTERVAL = 5_000;

/** The dialog's body: the form, kept live while it is shown. */
export class LaunchFormBody extends ReactWidget implements Dialog.IBodyWidget<ILaunchRequest> {
  constructor(
    private readonly _api: LauncherAPI,
    initial?: Partial<IFormValues>,
    error?: unknown
  ) {
    super();
    this.addClass('wl-LaunchFormBody');
    this._state = {
      values: { ...emptyValues(), ...initial },
      errors: {},
      profiles: null,
      inventory: null,
      datasets: null,
      snapshots: null,
      loadError: null,
      busy: false
    };
    // Values of an earlier launch (a retry) keep its GPUs; a partial start (from a snapshot)
    // still gets the profile's default GPUs.
    this._touchedGpus = initial?.gpuMode !== undefined;
    if (error !== undefined) {
      this.showError(error);
    }
    pollWhileAttached(this, {
      factory: () => this._load(),
      interval: REFRESH_INTERVAL,
      max: 60_000,
      name: 'workspace-launcher:launch-form'
    });
  }

  /** The form's values. */
  get values(): IFormValues {
    return this._state.values;
  }

  /** The `POST workspaces` body. */
  getValue(): ILaunchRequest {
    return buildRequest(this._state.values);
  }

  /** Disable the inputs while a launch request is in flight. */
  setBusy(busy: boolean): void {
    this._set({ busy });
  }

  /** Show an API error next to each field it names, or at the top. */
  showError(error: unknown): void {
    const errors =
      error instanceof ApiError
        ? formErrors(error.field, error.message, error.errors)
        : { general: errorMessage(error) };
    this._set({ errors });
  }

  protected render(): JSX.Element {
    return <LaunchFormView state={this._state} onChange={this._onChange} />;
  }

  private _onChange = (change: Partial<IFormValues>, fields: FormField[]): void => {
    if (
      change.gpuMode !== undefined ||
      change.gpuCount !== undefined ||
      change.gpuIds !== undefined
    ) {
      this._touchedGpus = true;
    }
    const errors = { ...this._state.errors };
    for (const field of fields) {
      delete errors[field];
    }
    let values = { ...this._state.values, ...change };
    if (change.snapshot !== undefined) {
      values = applySnapshot(values, this._state.snapshots ?? []);
    }
    if (values.profile !== this._state.values.profile) {
      values = this._defaultGpus(this._fitGpusToProfile(values));
    }
    values = fitDemoToProfile(values, this._state.profiles);
    this._set({ values, errors });
  };

  /** Until the user chooses GPUs, the default GPUs of the chosen profile. */
  private _defaultGpus(values: IFormValues): IFormValues {
    if (this._touchedGpus) {
      return values;
    }
    return defaultGpus(values, this._state.profiles, this._state.inventory);
  }

  /** Drop ticked GPUs the newly chosen profile cannot use. */
  private _fitGpusToProfile(values: IFormValues): IFormValues {
    return fitGpusToProfile(values, this._state.profiles, this._state.inventory);
  }

  private async _load(): Promise<void> {
    const first = this._state.profiles === null;
    try {
      const [profiles, inventory, datasets, snapshots] = await Promise.all([
        this._api.listProfiles(),
        this._api.listGpus(),
        first || this._state.datasets === null
          ? this._api.listDatasets()
          : Promise.resolve(this._state.datasets),
        this._api.listSnapshots()
      ]);
      // A snapshot (one asked for, or still chosen) holds its profile; one since deleted
      // falls back to the profile's image.
      let values = applySnapshot(this._state.values, snapshots);
      const profile = chooseProfile(values.profile, profiles);
      if (profile !== values.profile) {
        values = { ...values, profile };
      }
      this._state = { ...this._state, profiles, inventory, snapshots };
      values = fitDemoToProfile(this._defaultGpus(values), profiles);
      this._set({ datasets, values, loadError: null });
    } catch (error) {
      this._set({ loadError: `Could not load the launch options: ${errorMessage(error)}` });
      throw error; // the poll backs off
    }
  }

  private _set(change: Partial<IFormState>): void {
    this._state = { ...this._state, ...change };
    this.update();
  }

  private _state: IFormState;
  private _touchedGpus: boolean;
}

/** A Dialog whose Launch button sends the request and closes only when it is accepted. */
class LaunchDialog extends Dialog<ILaunchRequest> {
  constructor(
    private readonly _form: LaunchFormBody,
    private readonly _submit: (request: ILaunchRequest) => Promise<IWorkspace>
  ) {
    super({
      title: 'New GPU workspace',
      body: _form,
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Launch' })],
      focusNodeSelector: '[data-testid="wl-profile"]',
      hasClose: true
    });
    this.addClass('wl-LaunchDialog');
    const [cancel, launch] = Array.from(
      this.node.querySelectorAll<HTMLButtonElement>('.jp-Dialog-button')
    );
    cancel?.setAttribute('data-testid', 'wl-cancel');
    launch?.setAttribute('data-testid', 'wl-launch');
    this._launchButton = launch ?? null;
  }

  /** The workspace the accepted launch created (null until then). */
  launched: IWorkspace | null = null;

  /** The form values of that launch. */
  launchedValues: IFormValues | null = null;

  resolve(index?: number): void {
    const launch = index === undefined || index === 1;
    if (launch && this.launched === null) {
      void this._launch();
      return;
    }
    super.resolve(index);
  }

  private async _launch(): Promise<void> {
    if (this._busy) {
      return;
    }
    this._setBusy(true);
    try {
      const values = this._form.values;
      this.launched = await this._submit(buildRequest(values));
      this.launchedValues = values;
    } catch (error) {
      this._form.showError(error);
      this._setBusy(false);
      return;
    }
    super.resolve(1);
  }

  private _setBusy(busy: boolean): void {
    this._busy = busy;
    this._form.setBusy(busy);
    if (this._launchButton) {
      this._launchButton.disabled = busy;
      const label = this._launchButton.querySelector('.jp-Dialog-buttonLabel');
      if (label) {
        label.textContent = busy ? 'Launching…' : 'Launch';
      }
    }
  }

  private _busy = false;
  private _launchButton: HTMLButtonElement | null;
}

/** What an accepted launch dialog gives back. */
export interface ILaunched {
  workspace: IWorkspace;
  request: ILaunchRequest;
  values: IFormValues;
}

/**
 * Show the launch dialog (prefilled with `initial`, showing `error` when given); resolves to
 * the launched workspace, or null when the user cancelled.
 */
export async function showLaunchDialog(
  api: LauncherAPI,
  initial?: Partial<IFormValues>,
  error?: unknown
): Promise<ILaunched | null> {
  const form = new LaunchFormBody(api, initial, error);
  const dialog = new LaunchDialog(form, request => api.launch(request));
  const result = await dialog.launch();
  const { launched: workspace, launchedValues: values } = dialog;
  if (!result.button.accept || workspace === null || values === null) {
    return null;
  }
  return { workspace, request: buildRequest(values), values };
}
