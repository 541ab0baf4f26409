/** Small DOM helpers shared by the dialogs. */
import { Dialog } from '@jupyterlab/apputils';

/** Give a dialog's buttons (in order) `data-testid`s for browser tests. */
export function tagButtons(dialog: Dialog<unknown>, ids: string[]): void {
  const buttons = dialog.node.querySelectorAll('.jp-Dialog-button');
  buttons.forEach((button, i) => {
    if (ids[i]) {
      button.setAttribute('data-testid', ids[i]);
    }
  });
}

/** A new element with a class, a `data-testid` and a text. */
export function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: { className?: string; testid?: string; text?: string } = {}
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (props.className) {
    node.className = props.className;
  }
  if (props.testid) {
    node.setAttribute('data-testid', props.testid);
  }
  if (props.text !== undefined) {
    node.textContent = props.text;
  }
  return node;
}
