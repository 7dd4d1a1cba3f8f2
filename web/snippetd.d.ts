// Type declarations for snippetd's browser helper: window.snippetd, as set
// by the helper script the loader partial includes. Copy this file into a
// storefront's TypeScript project (or reference it with
// /// <reference path="snippetd.d.ts" />); it declares no module and needs
// no package.
//
// Amounts are numbers in currency units (19.99); field names are those of
// the render and orders APIs.

declare namespace Snippetd {
  interface Product {
    id: string;
    sku?: string;
    name: string;
    url?: string;
    image_url?: string;
    categories?: string[];
    brand?: string;
    price?: number;
    compare_at_price?: number;
  }

  interface LineItem {
    product: Product;
    quantity: number;
  }

  interface Cart {
    id: string;
    checkout_url?: string;
    items: LineItem[];
  }

  interface Customer {
    email?: string;
    phone_number?: string;
    external_id?: string;
    first_name?: string;
    last_name?: string;
    location?: Location;
    properties?: { [k: string]: string | number | boolean };
  }

  /** Where a customer lives, as Klaviyo's profile location takes it. */
  interface Location {
    address1?: string;
    address2?: string;
    city?: string;
    region?: string;
    country?: string;
    zip?: string;
  }

  /** A category (collection) page, for Viewed Category. */
  interface Category {
    id: string;
    name: string;
    url?: string;
    product_ids?: string[];
  }

  /** A site search's results page, for Searched Site (results_count defaults to 0). */
  interface Search {
    term: string;
    results_count?: number;
    product_ids?: string[];
  }

  /** Where a signup goes without the proxy, and its custom source. */
  interface SubscribeOptions {
    list?: string;
    source?: string;
    key?: string;
  }

  /** A call queued before the helper loaded: ["method", ...arguments]. */
  type Call =
    | ["viewedProduct", Product]
    | ["addedToCart", Cart, LineItem]
    | ["startedCheckout", Cart, (string | number | Date)?]
    | ["identify", Customer]
    | ["viewedCategory", Category]
    | ["searchedSite", Search]
    | ["backInStock", string, Customer, string?]
    | ["subscribe", Customer, SubscribeOptions?]
    | ["setCart", Cart]
    | ["consent", boolean];

  /** The helper's API, window.snippetd once the helper has run. */
  interface API {
    /** Viewed Product (and Klaviyo's trackViewedItem) for a product page. */
    viewedProduct(product: Product): void;
    /** Added to Cart: the whole cart after the add, and the line just added (already in the cart). */
    addedToCart(cart: Cart, added: LineItem): void;
    /** Started Checkout, once per cart; time defaults to now. */
    startedCheckout(cart: Cart, time?: string | number | Date): void;
    /** Identify the shopper (email or phone number, with names and an external id). */
    identify(customer: Customer): void;
    /** Viewed Category for a category page (the SFCC cartridge's property names). */
    viewedCategory(category: Category): void;
    /** Searched Site for a search results page (the SFCC cartridge's property names). */
    searchedSite(search: Search): void;
    /**
     * Ask Klaviyo to notify the shopper (email and/or E.164 phone_number)
     * when a catalog variant (its external id, or Klaviyo's full id) is back
     * in stock: in proxy mode through {prefix}back-in-stock, else with
     * Klaviyo's client endpoint and the public key (key, else the one in the
     * klaviyo.js URL). Resolves to whether it was accepted.
     */
    backInStock(variant: string, customer: Customer, key?: string): Promise<boolean>;
    /**
     * Subscribe the shopper's email (email marketing) and/or E.164
     * phone_number (SMS marketing: pass it only with the shopper's SMS
     * consent). In proxy mode through {prefix}subscribe to the server's
     * configured lists; else with Klaviyo's client endpoint, the list
     * (options.list, else the loader's signup list) and the public key
     * (options.key, else the one in the klaviyo.js URL). Sent at once, even
     * before tracking consent: the signup is the consent. Resolves to
     * whether it was accepted.
     */
    subscribe(customer: Customer, options?: SubscribeOptions): Promise<boolean>;
    /** Tell the helper the cart as it is now, for the declarative add-to-cart buttons. */
    setCart(cart: Cart): void;
    /**
     * Consent builds: true sends what was held and loads klaviyo.js; false
     * drops it and expires Klaviyo's cookie. Other builds ignore it.
     */
    consent(ok: boolean): void;
    /** Run queued calls, like Array.prototype.push on the pre-load queue. */
    push(...calls: Call[]): void;
  }
}

interface Window {
  /**
   * The helper's API once it has run; before that, a page may set it to an
   * array of calls that the helper replays when it loads.
   */
  snippetd?: Snippetd.API | Snippetd.Call[];
}
