"""``sr-stream train``: train a generator from a recipe (implemented by ``srstream.trainer``)."""

from srstream.commands._pending import pending

COMMAND = pending("the trainer (sr-stream train)",
                  "Train SRGAN-family generators (SRResNet, SRGAN, RRDB, compact nets).")
