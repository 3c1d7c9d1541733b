// Federation module
