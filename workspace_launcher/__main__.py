"""``python -m workspace_launcher``: the admin CLI, as the ``workspace-launcher`` command."""

from workspace_launcher.admin.cli import main

if __name__ == "__main__":
    main(prog_name="workspace-launcher")
