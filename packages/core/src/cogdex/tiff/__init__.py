"""cogdex's own TIFF/GeoTIFF engine: header parsing, the header model, tile decoding."""

__all__: list[str] = []
