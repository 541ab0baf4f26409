"""The object-detection demo's data: the ``demo-shapes`` dataset that demo notebooks train on.

May import: nothing else of the launcher."""
