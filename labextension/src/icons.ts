/** The extension's icons. */
import { LabIcon } from '@jupyterlab/ui-components';

import gpuSvg from '../style/icons/gpu.svg';

export const gpuIcon = new LabIcon({
  name: 'workspace-launcher:gpu',
  svgstr: gpuSvg
});
