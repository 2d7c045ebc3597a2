"""Tools: the command line and what it runs besides training.

    cli       python -m sslkit pretrain | evaluate | bench | compare | run-notebooks | make-student-copies | methods
    bench     benchmarks that print a ratio against a peer pipeline measured in the same run
    compare   every method, the same data and budget, one table (and a bar chart)
    results   result files of runs, and the README results table rendered from them

Layer: tools. May import everything below: the core, the scenarios and teach (``run-notebooks``,
``make-student-copies``).
"""
