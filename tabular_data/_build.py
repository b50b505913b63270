# TEMPORARY shim, removed at integration: the builder, validation and cell lists moved to
# tabular_data._builder, tabular_data._validation and tabular_data._cells (all in tabular_data).
from tabular_data import *  # noqa: F403
