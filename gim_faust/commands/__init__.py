"""The operator interface: the ``gim-faust`` command line (:mod:`.cli`), one module per command
group with its handlers, and ``make demo``. Only here are arguments parsed (argparse), results
printed and exit codes chosen; the handlers call the services and libraries with plain values.
Nothing else in the package imports it."""
