"""Teaching: what the notebooks need beyond the library itself.

    notebooks     the first call of every notebook (setup), the arc's shared pretraining budget, and
                  ``run_notebooks`` (papermill, headless) behind ``python -m sslkit run-notebooks``
    viz           matplotlib figures: views, curves, embeddings, label-efficiency plots
    widgets       ipywidgets explorers (augmentations, the unit-sphere toy, message routing)
    monitor_viz   the streaming-monitor explorer of notebook 07
    classroom     student copies (solutions replaced by stubs) and instructor copies
    exercises     the checks behind every notebook's exercises, one module per notebook

Layer: teach. May import the core and the scenarios; never ``sslkit.tools``. Needs the
``notebooks`` extra (matplotlib, ipywidgets, papermill, nbformat).
"""
from sslkit.checks import require_extra

require_extra("notebooks", "matplotlib", "ipywidgets", "nbformat")
