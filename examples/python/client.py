"""snippetd from Python 3 (standard library only): render a snippet for a
page and send an order.

    SNIPPETD_URL=http://localhost:8080 SNIPPETD_API_TOKEN=dev-token python3 examples/python/client.py
"""
import datetime
import json
import os
import pathlib
import sys
import urllib.error
import urllib.request

BASE = os.environ.get("SNIPPETD_URL", "http://localhost:8080")
TOKEN = os.environ.get("SNIPPETD_API_TOKEN")


def post(path, body, token=None):
    """POST a JSON body; return (status, response text). Errors (4xx, 5xx)
    are answered with {"error": {"code", "message", "field"}}."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    req = urllib.request.Request(BASE + path, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def main():
    if not TOKEN:
        sys.exit("set SNIPPETD_API_TOKEN to the token the server was started with")

    # Render: the Added to Cart snippet for a cart page. The answer is an
    # HTML partial to put in the page as is (it escapes what it embeds).
    cart = (pathlib.Path(__file__).parent.parent / "cart.json").read_bytes()
    status, html = post("/v1/render/added-to-cart", cart)
    if status != 200:
        err = json.loads(html)["error"]
        sys.exit(f"render: {status} {err['code']} {err.get('field', '')}: {err['message']}")
    print(html)

    # Orders: 202 once the events are stored; snippetd delivers them to
    # Klaviyo. Sending the same order again is safe (also 202).
    order = {
        "id": "python-1001",
        "placed_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "currency": "USD",
        "customer": {"email": "ann@example.com", "first_name": "Ann"},
        "items": [{"product": {"id": "1111", "name": "Winnie the Pooh", "price": 9.99}, "quantity": 2}],
        "total": 19.98,
    }
    status, body = post("/v1/orders", json.dumps(order).encode(), TOKEN)
    print(f"order {order['id']}: HTTP {status} {body.strip()}")
    if status != 202:
        sys.exit(1)


if __name__ == "__main__":
    main()
