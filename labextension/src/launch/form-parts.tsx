/**
 * What the launch form's sections share: the form state they render, their props, and the
 * small pieces every section uses (a field's error, a badge).
 */
import * as React from 'react';

import { IDataset, IGpuInventory, IProfile, ISnapshot } from '../contract';
import { FormField, IFormValues } from './rules';

/** Everything the view shows. */
export interface IFormState {
  values: IFormValues;
  errors: Partial<Record<FormField | 'general', string>>;
  profiles: IProfile[] | null;
  inventory: IGpuInventory | null;
  datasets: IDataset[] | null;
  /** The user's snapshots, newest first (null until loaded). */
  snapshots: ISnapshot[] | null;
  loadError: string | null;
  busy: boolean;
}

export interface IFormViewProps {
  state: IFormState;
  /** Change some values (and clear the errors of the fields they concern). */
  onChange: (change: Partial<IFormValues>, fields: FormField[]) => void;
}

export function FieldError(props: { state: IFormState; field: FormField }): JSX.Element | null {
  const message = props.state.errors[props.field];
  return message ? (
    <div className="wl-FieldError" data-testid={`wl-error-${props.field}`} role="alert">
      {message}
    </div>
  ) : null;
}

export function Badge(props: { kind: 'good' | 'info'; children: React.ReactNode; title?: string }) {
  return (
    <span className={`wl-Badge wl-mod-${props.kind}`} title={props.title}>
      {props.children}
    </span>
  );
}
