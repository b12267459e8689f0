"""cogdex's built-in dataset catalog (a plugin: every entry arrives through `cogdex_datasets`)."""
