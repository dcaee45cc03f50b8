# Jupyter's settings in the hydrogen/pysonar image (JUPYTER_CONFIG_PATH=/app/jupyter).
# The notebook directory is set by the entry point (start_notebook.py), which seeds it.
c = get_config()  # noqa: F821 (Jupyter's config loader defines it)

# Reached through the port the container publishes: publish it on 127.0.0.1 only.
c.ServerApp.ip = "0.0.0.0"
c.ServerApp.port = 8888
c.ServerApp.open_browser = False
# The image has no shell, so a terminal would open and die at once.
c.ServerApp.terminals_enabled = False
# The kernel is the image's own (jupyter/kernels/python3): pysonar's PEX, not a bare Python.
c.KernelSpecManager.ensure_native_kernel = False

# Nothing leaves the machine: no news feed, no update check, no extension index on PyPI.
# The front end's defaults (lab/settings/overrides.json) stop it asking to fetch news.
c.LabServerApp.app_settings_dir = "/app/jupyter/lab/settings"  # both Lab's and Notebook's
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.handlers.announcements.NeverCheckForUpdate"
c.LabApp.extension_manager = "readonly"
