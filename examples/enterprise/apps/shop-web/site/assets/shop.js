// The product list comes from shop-api (routed under /api by the ingress).
fetch("/api/products.json")
  .then((r) => r.json())
  .then((products) => {
    document.getElementById("products").innerHTML = products
      .map((p) => `<li>${p.name}: ${p.price.amount} ${p.price.currency}</li>`)
      .join("");
  });
