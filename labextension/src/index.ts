/**
 * Wiring only: the "New GPU workspace" command (launcher card, palette, File > New), the
 * "GPU Workspaces" sidebar panel and the launch progress in the status bar. The plugin
 * provides the workspaces model (`IWorkspacesModel`) to other extensions. Nothing here waits
 * on the server.
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { ILauncher } from '@jupyterlab/launcher';
import { IMainMenu } from '@jupyterlab/mainmenu';
import { IStatusBar } from '@jupyterlab/statusbar';

import { LauncherAPI } from './api';
import { gpuIcon } from './icons';
import { launchWithDialog } from './launch/progress';
import { LaunchStatus } from './panel/launch-status-item';
import { WorkspacesPanel } from './panel/workspaces-panel';
import {
  CommandIDs,
  IWorkspacesModel,
  LAUNCHER_CATEGORY,
  PLUGIN_ID,
  STATUS_ITEM_ID
} from './tokens';
import { WorkspacesModel } from './workspaces-model';

const plugin: JupyterFrontEndPlugin<IWorkspacesModel> = {
  id: PLUGIN_ID,
  description: 'Launch and manage GPU Jupyter workspaces in containers.',
  autoStart: true,
  provides: IWorkspacesModel,
  optional: [ILauncher, ICommandPalette, IMainMenu, ILayoutRestorer, IStatusBar],
  activate: (
    app: JupyterFrontEnd,
    launcher: ILauncher | null,
    palette: ICommandPalette | null,
    mainMenu: IMainMenu | null,
    restorer: ILayoutRestorer | null,
    statusBar: IStatusBar | null
  ): IWorkspacesModel => {
    const api = new LauncherAPI(app.serviceManager.serverSettings);
    const model = new WorkspacesModel(api, app.serviceManager.events ?? null);

    app.commands.addCommand(CommandIDs.create, {
      label: args => (args.isLauncher ? 'GPU Workspace' : 'New GPU Workspace…'),
      caption: 'Launch a Jupyter workspace with GPUs, in its own container',
      icon: gpuIcon,
      execute: () => launchWithDialog(api, model)
    });

    const panel = new WorkspacesPanel(api, model, initial => {
      if (initial) {
        void launchWithDialog(api, model, initial);
      } else {
        void app.commands.execute(CommandIDs.create);
      }
    });
    app.shell.add(panel, 'left', { rank: 600 });
    restorer?.add(panel, panel.id);

    app.commands.addCommand(CommandIDs.showPanel, {
      label: 'Show GPU Workspaces',
      caption: 'Show the list of your GPU workspaces',
      execute: () => app.shell.activateById(panel.id)
    });

    launcher?.add({
      command: CommandIDs.create,
      args: { isLauncher: true },
      category: LAUNCHER_CATEGORY,
      rank: 0
    });
    palette?.addItem({ command: CommandIDs.create, category: LAUNCHER_CATEGORY });
    palette?.addItem({ command: CommandIDs.showPanel, category: LAUNCHER_CATEGORY });
    mainMenu?.fileMenu.newMenu.addGroup([{ command: CommandIDs.create }], 40);

    if (statusBar) {
      const status = new LaunchStatus(model, () => app.shell.activateById(panel.id));
      statusBar.registerStatusItem(STATUS_ITEM_ID, {
        item: status,
        align: 'left',
        rank: 5,
        isActive: status.isActive,
        activeStateChanged: status.activeStateChanged
      });
    }

    return model;
  }
};

export default plugin;
