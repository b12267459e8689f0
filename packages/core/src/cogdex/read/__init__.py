"""Reading pixels: planning tile requests, assembling windows, and warping onto grids."""
