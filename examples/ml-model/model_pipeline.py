"""Train a small model when the container starts, then serve its predictions over HTTP.

The model: scikit-learn's iris flowers (150 measured flowers of three species, shipped inside
scikit-learn, so nothing is downloaded), a pipeline of feature scaling and a logistic
regression, trained on 80% of the flowers and scored on the other 20%.

GET  /                 what the model is: features, classes, accuracy on the held-out flowers
GET  /health           "ok"
GET  /predict?sepal_length=5.1&sepal_width=3.5&petal_length=1.4&petal_width=0.2
                       {"class": "setosa", "probabilities": {"setosa": 0.98, ...}}
POST /predict          body {"instances": [[5.1, 3.5, 1.4, 0.2], ...]}
                       {"predictions": [{"class": ..., "probabilities": {...}}, ...]}
"""

from __future__ import annotations

import json
import signal
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

PORT = 8000
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def train():
    """Fit the pipeline on the training flowers; return it, the class names and its accuracy
    on the flowers it never saw."""
    iris = load_iris()
    x_train, x_test, y_train, y_test = train_test_split(
        iris.data, iris.target, test_size=0.2, random_state=0, stratify=iris.target
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(x_train, y_train)
    return model, [str(name) for name in iris.target_names], float(model.score(x_test, y_test))


MODEL, CLASSES, ACCURACY = train()


def predict(rows):
    """Class and class probabilities for each row of four measurements (cm)."""
    if not rows or any(len(row) != len(FEATURES) for row in rows):
        raise ValueError(f"each instance needs {len(FEATURES)} numbers: {', '.join(FEATURES)}")
    numbers = [[float(value) for value in row] for row in rows]
    results = []
    for probabilities in MODEL.predict_proba(numbers):
        best = int(probabilities.argmax())
        results.append(
            {
                "class": CLASSES[best],
                "probabilities": {
                    c: round(float(p), 4) for c, p in zip(CLASSES, probabilities, strict=True)
                },
            }
        )
    return results


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/":
            self.reply(
                200,
                {
                    "model": "iris species: StandardScaler + LogisticRegression",
                    "features": FEATURES,
                    "classes": CLASSES,
                    "accuracy": round(ACCURACY, 4),
                },
            )
        elif url.path == "/health":
            self.reply(200, "ok")
        elif url.path == "/predict":
            query = dict(urllib.parse.parse_qsl(url.query))
            missing = [f for f in FEATURES if f not in query]
            if missing:
                return self.reply(400, {"error": f"missing query parameters: {', '.join(missing)}"})
            self.answer(lambda: predict([[query[f] for f in FEATURES]])[0])
        else:
            self.reply(404, {"error": f"no such path: {url.path}"})

    def do_POST(self):
        if urllib.parse.urlsplit(self.path).path != "/predict":
            return self.reply(404, {"error": f"no such path: {self.path}"})
        length = int(self.headers.get("Content-Length", "0"))
        try:
            rows = json.loads(self.rfile.read(length))["instances"]
        except (ValueError, KeyError, TypeError):
            return self.reply(400, {"error": 'send JSON: {"instances": [[5.1, 3.5, 1.4, 0.2]]}'})
        self.answer(lambda: {"predictions": predict(rows)})

    def answer(self, compute):
        try:
            self.reply(200, compute())
        except (ValueError, TypeError) as err:
            self.reply(400, {"error": str(err)})

    def reply(self, code, doc):
        body = (doc if isinstance(doc, str) else json.dumps(doc)).encode() + b"\n"
        self.send_response(code)
        self.send_header(
            "Content-Type", "text/plain" if isinstance(doc, str) else "application/json"
        )
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main():
    # As PID 1 a process that sets no handler ignores SIGTERM: exit at once on `stop`.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    print(
        f"model trained: accuracy {ACCURACY:.2f} on held-out flowers; serving on :{PORT}",
        flush=True,
    )
    server.serve_forever()


if __name__ == "__main__":
    main()
