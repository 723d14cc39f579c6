//! Accounts (level A2, scope `accounts:read`), read under a customer's consent: only the
//! accounts the customer chose, only the fields the permissions allow.

use axum::{extract::State, response::Response};
use scenegate_adapter_contract::Operation;
use scenegate_adapters::native::wire::{Account, AccountList, BalanceList, SortOrder, TransactionList};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::CallErrors;
use crate::{app::AppState, pipeline, pipeline::PartnerCall, problem::Problem};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_accounts))
        .routes(routes!(get_account))
        .routes(routes!(get_balances))
        .routes(routes!(list_transactions))
}

/// List the consented accounts
///
/// Needs `ReadAccountsBasic` (masked numbers and names) or `ReadAccountsDetail`.
#[utoipa::path(
    get, path = "/v1/accounts", tag = "accounts", operation_id = "listAccounts",
    security(("customer_token" = ["accounts:read"])),
    responses(
        CallErrors,
        (status = 200, description = "The accounts the customer chose.", body = AccountList),
    )
)]
pub async fn list_accounts(State(gw): State<AppState>, call: PartnerCall) -> Response {
    pipeline::run(&gw, Operation::ListAccounts, call).await
}

/// Get one account
#[utoipa::path(
    get, path = "/v1/accounts/{account_id}", tag = "accounts", operation_id = "getAccount",
    security(("customer_token" = ["accounts:read"])),
    params(("account_id" = String, Path, description = "Account id, `acc_…`, from the account list.")),
    responses(
        CallErrors,
        (status = 200, description = "The account.", body = Account),
        (status = 404, description = "Not an account under this consent.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_account(State(gw): State<AppState>, call: PartnerCall) -> Response {
    pipeline::run(&gw, Operation::GetAccount, call).await
}

/// Get an account's balances
///
/// Needs `ReadBalances`.
#[utoipa::path(
    get, path = "/v1/accounts/{account_id}/balances", tag = "accounts", operation_id = "getBalances",
    security(("customer_token" = ["accounts:read"])),
    params(("account_id" = String, Path, description = "Account id, `acc_…`.")),
    responses(
        CallErrors,
        (status = 200, description = "Booked and available balances.", body = BalanceList),
        (status = 404, description = "Not an account under this consent.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_balances(State(gw): State<AppState>, call: PartnerCall) -> Response {
    pipeline::run(&gw, Operation::GetBalances, call).await
}

/// List an account's transactions
///
/// Needs `ReadTransactionsBasic` or `ReadTransactionsDetail`. Only transactions inside the
/// consent's window (`transaction_from` to `transaction_to`) are ever returned, whatever
/// `from` and `to` ask for.
#[utoipa::path(
    get, path = "/v1/accounts/{account_id}/transactions", tag = "accounts", operation_id = "listTransactions",
    security(("customer_token" = ["accounts:read"])),
    params(
        ("account_id" = String, Path, description = "Account id, `acc_…`."),
        ("from" = Option<String>, Query, format = DateTime, description = "Earliest booking time, RFC 3339."),
        ("to" = Option<String>, Query, format = DateTime, description = "Latest booking time, RFC 3339."),
        ("order" = Option<SortOrder>, Query, description = "`desc` (default): newest first; `asc`: oldest first. A cursor continues only the order it was issued for."),
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 1000; default 25.", minimum = 1, maximum = 1000),
        ("cursor" = Option<String>, Query, description = "Opaque cursor from `links.next`."),
    ),
    responses(
        CallErrors,
        (status = 200, description = "A page of transactions, newest first unless `order=asc`.", body = TransactionList),
        (status = 400, description = "A parameter is malformed; `errors` names it.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not an account under this consent.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_transactions(State(gw): State<AppState>, call: PartnerCall) -> Response {
    pipeline::run(&gw, Operation::ListTransactions, call).await
}
