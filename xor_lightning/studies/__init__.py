"""The studies: many seeds (and learning rates, widths, activations, optimizers) of the lesson's network
trained at once, as copy stacks side by side (`copies.py`), and why the ones that fail, fail (`diagnosis.py`).

`ensemble.XOREnsemble` is `make study`, `grid.XORStudyGrid` is `make study-grid`; both build on
`copies_module.CopiesModule`. They import the lesson, never the CLI.
"""
