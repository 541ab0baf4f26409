"""The notebook widget: a launcher inside a notebook, talking to the host's REST API.

May import: nothing else of the launcher (it is a client of the REST API, like the lab extension)."""
