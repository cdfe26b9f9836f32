"""The catalog generator: a Batch Swagger spec in, one reviewed JSON tool definition per operation out.

Run only by `batch-mcp catalog build`; the server reads the generated files and never imports it.
"""
