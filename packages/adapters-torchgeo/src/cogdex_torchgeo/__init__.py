"""cogdex output adapter: torchgeo."""
