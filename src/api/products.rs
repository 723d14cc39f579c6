//! Product catalogue (JR/T 0185 level A1: public product data, scope `products:read`).

use axum::{extract::State, response::Response};
use scenegate_adapter_contract::Operation;
use scenegate_adapters::native::wire::{Product, ProductList, ProductType};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::CallErrors;
use crate::{app::AppState, pipeline, pipeline::PartnerCall, problem::Problem};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_products)).routes(routes!(get_product))
}

/// List products
///
/// Deposit and credit products, ordered by id, one page at a time. Follow `links.next`
/// until it is absent.
#[utoipa::path(
    get, path = "/v1/products", tag = "products", operation_id = "listProducts",
    security(("partner_token" = ["products:read"])),
    params(
        ("type" = Option<ProductType>, Query, description = "Only products of this type."),
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 1000; default 25.", minimum = 1, maximum = 1000),
        ("cursor" = Option<String>, Query, description = "Opaque cursor from `links.next` of the previous page."),
    ),
    responses(
        CallErrors,
        (status = 200, description = "A page of products.", body = ProductList),
        (status = 400, description = "A parameter is malformed; `errors` names it.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_products(State(gw): State<AppState>, call: PartnerCall) -> Response {
    pipeline::run(&gw, Operation::ListProducts, call).await
}

/// Get one product
#[utoipa::path(
    get, path = "/v1/products/{product_id}", tag = "products", operation_id = "getProduct",
    security(("partner_token" = ["products:read"])),
    params(("product_id" = String, Path, description = "Product id, `prd_…`.", example = "prd_DEP-3M-CNY")),
    responses(
        CallErrors,
        (status = 200, description = "The product.", body = Product),
        (status = 400, description = "The id is malformed.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such product.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_product(State(gw): State<AppState>, call: PartnerCall) -> Response {
    pipeline::run(&gw, Operation::GetProduct, call).await
}
