/**
 * Wiring only: the "New GPU workspace" command (launcher card, palette, File > New), the
 * "GPU Workspaces" sidebar panel and the launch progress in the status bar. Nothing here
 * waits on the server.
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { ILauncher } from '@jupyterlab/launcher';
import { IMainMenu } from '@jupyterlab/mainmenu';
import { IStatusBar } from '@jupyterlab/statusbar';

import { LauncherAPI } from './api';
import { gpuIcon } from './icons';
import { LaunchStatus } from './launchstatus';
import { WorkspacesModel } from './model';
import { WorkspacesPanel } from './panel';
import { launchWithDialog } from './progress';
import { CommandIDs, LAUNCHER_CATEGORY, PLUGIN_ID } from './tokens';

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Launch and manage GPU Jupyter workspaces in containers.',
  autoStart: true,
  optional: [ILauncher, ICommandPalette, IMainMenu, ILayoutRestorer, IStatusBar],
  activate: (
    app: JupyterFrontEnd,
    launcher: ILauncher | null,
    palette: ICommandPalette | null,
    mainMenu: IMainMenu | null,
    restorer: ILayoutRestorer | null,
    statusBar: IStatusBar | null
  ): void => {
    const api = new LauncherAPI(app.serviceManager.serverSettings);
    const model = new WorkspacesModel(api, app.serviceManager.events ?? null);

    app.commands.addCommand(CommandIDs.create, {
      label: args => (args.isLauncher ? 'GPU Workspace' : 'New GPU Workspace…'),
      caption: 'Launch a Jupyter workspace with GPUs, in its own container',
      icon: gpuIcon,
      execute: () => launchWithDialog(api, model)
    });

    const panel = new WorkspacesPanel(api, model, () => {
      void app.commands.execute(CommandIDs.create);
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
      statusBar.registerStatusItem(`${PLUGIN_ID}-status`, {
        item: status,
        align: 'left',
        rank: 5,
        isActive: status.isActive,
        activeStateChanged: status.activeStateChanged
      });
    }
  }
};

export default plugin;
