# TEMPORARY shim, removed at integration: the data root moved to tabular_data._root.
from tabular_data._root import *  # noqa: F403
