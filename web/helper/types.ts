// Neutral storefront data, with the JSON field names of package shop.
// Amounts are JSON numbers in currency units (19.99); the helper turns them
// into integer cents before any arithmetic.

export interface Product {
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

export interface LineItem {
  product: Product;
  quantity: number;
}

export interface Cart {
  id: string;
  checkout_url?: string;
  items: LineItem[];
}

export interface Customer {
  email?: string;
  phone_number?: string;
  external_id?: string;
  first_name?: string;
  last_name?: string;
  location?: Location;
  properties?: { [k: string]: string | number | boolean };
}

/** Where a customer lives, as Klaviyo's profile location takes it. */
export interface Location {
  address1?: string;
  address2?: string;
  city?: string;
  region?: string;
  country?: string;
  zip?: string;
}

/** A call onto the klaviyo queue, such as ["track", "Viewed Product", {...}]. */
export type Push = [string, ...unknown[]];

export type Props = { [k: string]: unknown };

/** A category (collection) page: Viewed Category. */
export interface Category {
  id: string;
  name: string;
  url?: string;
  product_ids?: string[];
}

/** A site search's results page: Searched Site. */
export interface Search {
  term: string;
  results_count?: number;
  product_ids?: string[];
}
