"""The admin's tools: the ``workspace-launcher`` CLI (launch, list, images, models, network)
and ``doctor``, which checks a host before users arrive.

May import anything below it; nothing imports it."""
