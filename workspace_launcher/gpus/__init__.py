"""The host's GPUs: the model, request parsing and selection policy (pure), discovery (NVML,
nvidia-smi, ROCm), the choices a user has now (what the dialog and the widget render), the inventory (declared or discovered) and the allocator with its
cross-server reservation lock.

May import: ``errors``. Nothing that knows about containers: what a container needs to see its
GPUs is ``engine.gpu_devices``."""
