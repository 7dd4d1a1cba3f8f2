/// <reference path="../../snippetd.d.ts" />
// Each statement is one error tsc must report (TestDeclarationsTypeCheck
// counts them): the declarations are not so loose that anything passes.
declare const s: Snippetd.API;
s.viewedProduct({ id: 1111, name: "Mug" });
s.addedToCart({ id: "c", items: [] });
s.identify({ mail: "a@b.c" });
s.push(["track", "Viewed Product"]);
s.trackViewedItem({});
s.viewedCategory({ id: "c" });
s.searchedSite({ term: "x", results_count: "3" });
s.backInStock({ email: "a@b.c" });
s.identify({ email: "a@b.c", properties: { nested: { a: 1 } } });
