"""GitHub integration: the REST client, the plan comment on a pull request, drift issues,
and the Actions step summary. Each module is imported on its own; nothing is re-exported
here so ``import reconciler.github.summary`` stays cheap."""
