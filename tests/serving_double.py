"""A small loopback stand-in for TF Serving, to test exported SavedModels without the real server.

``tensorflow_model_server`` cannot be installed here (no PyPI wheel, no Debian package, no Docker
daemon), so ``SavedModelServer`` implements the parts of its two APIs that clients use, over the
same SavedModel: the REST ``:predict`` JSON bodies (row ``instances`` and columnar ``inputs``,
``{"b64": ...}`` strings, base64 outputs for names ending in ``_bytes``) and the gRPC
``PredictionService/Predict`` call with ``tensorflow-serving-api`` protos. Servers bind 127.0.0.1 only.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

_PREDICT_PATH = re.compile(r"^/v1/models/(?P<name>[^/:]+)(/versions/(?P<version>\d+))?:predict$")


class BadRequest(ValueError):
    """A request the model cannot answer; the message is what the client sees."""


def _error_text(error: Exception) -> str:
    text = getattr(error, "message", None) or str(error)
    lines = [line for line in str(text).splitlines() if line.strip() and "Graph execution error" not in line]
    for line in lines:  # our assertion messages come first when present
        if "must" in line or "empty batch" in line or "too large" in line or "image" in line.lower():
            return line.strip()
    return lines[0].strip() if lines else type(error).__name__


class SavedModelServer:
    """Serves one SavedModel's signatures, like ``tensorflow_model_server --model_name=NAME``."""

    def __init__(self, export_dir: str, model_name: str = "semdenoise"):
        import tensorflow as tf

        self.model_name = model_name
        self.loaded = tf.saved_model.load(export_dir)
        self.signatures = dict(self.loaded.signatures)

    def input_specs(self, signature_name: str) -> dict:
        return self.signatures[signature_name].structured_input_signature[1]

    def predict(self, signature_name: str, inputs: dict) -> dict:
        """Runs a signature on numpy inputs; raises ``BadRequest`` with a one-line reason."""
        import tensorflow as tf

        if signature_name not in self.signatures:
            raise BadRequest(f"unknown signature {signature_name!r}; have {sorted(self.signatures)}")
        specs = self.input_specs(signature_name)
        if set(inputs) != set(specs):
            raise BadRequest(f"signature {signature_name!r} takes inputs {sorted(specs)}, got {sorted(inputs)}")
        tensors = {}
        for key, spec in specs.items():
            try:
                value = np.asarray(inputs[key], dtype=object if spec.dtype == tf.string else spec.dtype.as_numpy_dtype)
                tensors[key] = tf.constant(value, dtype=spec.dtype)
            except (ValueError, TypeError, OverflowError) as error:
                raise BadRequest(f"input {key!r} is not a {spec.dtype.name} tensor: {error}") from None
            if not spec.shape.is_compatible_with(tensors[key].shape):
                raise BadRequest(f"input {key!r} must have shape {spec.shape}, got {tensors[key].shape}")
        try:
            outputs = self.signatures[signature_name](**tensors)
        except (tf.errors.InvalidArgumentError, tf.errors.OutOfRangeError, ValueError) as error:
            raise BadRequest(_error_text(error)) from None
        return {key: value.numpy() for key, value in outputs.items()}

    # --- REST -----------------------------------------------------------------------------------
    def _decode_json_value(self, value):
        if isinstance(value, dict) and set(value) == {"b64"}:
            return base64.b64decode(value["b64"], validate=True)
        if isinstance(value, list):
            return [self._decode_json_value(v) for v in value]
        return value

    @staticmethod
    def _encode_output(name: str, value: np.ndarray):
        if name.endswith("_bytes"):
            return [{"b64": base64.b64encode(v).decode()} for v in value.reshape(-1)]
        return value.tolist()

    def rest_predict(self, body: dict) -> dict:
        """Answers a REST ``:predict`` body; raises ``BadRequest``."""
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object")
        signature_name = body.get("signature_name", "serving_default")
        if signature_name not in self.signatures:
            raise BadRequest(f"unknown signature {signature_name!r}; have {sorted(self.signatures)}")
        names = sorted(self.input_specs(signature_name))
        try:
            if ("instances" in body) == ("inputs" in body):
                raise BadRequest('the body needs exactly one of "instances" (row) or "inputs" (columnar)')
            if "instances" in body:
                rows = body["instances"]
                if not isinstance(rows, list) or not rows:
                    raise BadRequest('"instances" must be a non-empty list')
                if all(isinstance(r, dict) and not set(r) == {"b64"} for r in rows):
                    inputs = {n: [self._decode_json_value(r[n]) for r in rows] for n in names}
                elif len(names) == 1:
                    inputs = {names[0]: [self._decode_json_value(r) for r in rows]}
                else:
                    raise BadRequest(f"each instance must be an object with keys {names}")
            else:
                columns = body["inputs"]
                if isinstance(columns, dict) and not set(columns) == {"b64"}:
                    inputs = {n: self._decode_json_value(columns[n]) for n in names if n in columns}
                else:
                    inputs = {names[0]: self._decode_json_value(columns)}
        except (KeyError, ValueError, base64.binascii.Error) as error:
            if isinstance(error, BadRequest):
                raise
            raise BadRequest(f"malformed request: {error}") from None
        outputs = self.predict(signature_name, inputs)
        if "instances" in body:
            if len(outputs) == 1:
                ((name, value),) = outputs.items()
                return {"predictions": self._encode_output(name, value)}
            encoded = {k: self._encode_output(k, v) for k, v in outputs.items()}
            count = len(next(iter(encoded.values())))
            return {"predictions": [{k: encoded[k][i] for k in encoded} for i in range(count)]}
        if len(outputs) == 1:
            ((name, value),) = outputs.items()
            return {"outputs": self._encode_output(name, value)}
        return {"outputs": {k: self._encode_output(k, v) for k, v in outputs.items()}}

    def start_rest(self, port: int = 0):
        """An HTTP server on 127.0.0.1 answering ``POST /v1/models/<name>[/versions/N]:predict``."""
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _reply(self, status: int, payload: dict):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                match = _PREDICT_PATH.match(self.path)
                if not match or match.group("name") != server.model_name:
                    return self._reply(404, {"error": f"no such endpoint {self.path}"})
                try:
                    length = int(self.headers.get("Content-Length", "0"))
                    body = json.loads(self.rfile.read(length) or b"null")
                    return self._reply(200, server.rest_predict(body))
                except json.JSONDecodeError as error:
                    return self._reply(400, {"error": f"the body is not JSON: {error}"})
                except BadRequest as error:
                    return self._reply(400, {"error": str(error)})

        httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        return httpd

    # --- gRPC -----------------------------------------------------------------------------------
    def grpc_predict(self, request):
        """Answers a ``tensorflow_serving.apis.predict_pb2.PredictRequest``; raises ``BadRequest``."""
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        signature_name = request.model_spec.signature_name or "serving_default"
        try:
            inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
        except (TypeError, ValueError) as error:
            raise BadRequest(f"malformed TensorProto: {error}") from None
        outputs = self.predict(signature_name, inputs)
        response = predict_pb2.PredictResponse()
        response.model_spec.name = request.model_spec.name
        response.model_spec.signature_name = signature_name
        for key, value in outputs.items():
            response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
        return response

    def start_grpc(self, port: int = 0):
        """A gRPC ``PredictionService`` on 127.0.0.1; returns ``(server, port)``."""
        from concurrent import futures

        import grpc
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        server = self

        class Servicer(prediction_service_pb2_grpc.PredictionServiceServicer):
            def Predict(self, request, context):  # noqa: N802 - the gRPC method name
                if request.model_spec.name != server.model_name:
                    context.abort(grpc.StatusCode.NOT_FOUND, f"no model {request.model_spec.name!r}")
                try:
                    return server.grpc_predict(request)
                except BadRequest as error:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))

        grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Servicer(), grpc_server)
        bound = grpc_server.add_insecure_port(f"127.0.0.1:{port}")
        grpc_server.start()
        return grpc_server, bound
