"""The `strangler` command: one module per verb group, each thin over the component it drives."""
