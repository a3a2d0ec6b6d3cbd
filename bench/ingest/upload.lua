-- wrk script: POSTs the captured dd-trace-js upload (tests/data/ingest/) over keep-alive.
local path = os.getenv("UPLOAD_BODY")
local file = assert(io.open(path, "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "multipart/form-data; boundary=6f6355e8d3c54f4b"
