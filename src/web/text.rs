//! What the customer reads, in Chinese (the default) and English.

use scenegate_adapter_contract::{
    Currency, Money,
    canonical::{ConsentStatus, Permission, ScenarioCode},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Locale {
    #[default]
    Zh,
    En,
}

impl Locale {
    pub const fn code(self) -> &'static str {
        match self {
            Self::Zh => "zh-CN",
            Self::En => "en",
        }
    }

    /// A tag as in `ui_locales` or `?lang=`: `en…` is English, anything else Chinese.
    pub fn from_tag(tag: &str) -> Option<Self> {
        let tag = tag.trim().to_ascii_lowercase();
        if tag == "en" || tag.starts_with("en-") {
            Some(Self::En)
        } else if tag == "zh" || tag.starts_with("zh-") {
            Some(Self::Zh)
        } else {
            None
        }
    }

    /// The first supported tag of a space-separated `ui_locales`, else Chinese.
    pub fn from_ui_locales(list: Option<&str>) -> Self {
        list.unwrap_or_default().split(' ').find_map(Self::from_tag).unwrap_or_default()
    }

    pub fn other(self) -> Self {
        match self {
            Self::Zh => Self::En,
            Self::En => Self::Zh,
        }
    }

    pub fn text(self) -> &'static Text {
        match self {
            Self::Zh => &ZH,
            Self::En => &EN,
        }
    }
}

pub struct Text {
    pub bank: &'static str,
    pub switch_to: &'static str,
    pub login_title: &'static str,
    pub login_lead: &'static str,
    pub login_id: &'static str,
    pub password: &'static str,
    pub login_button: &'static str,
    pub login_failed: &'static str,
    pub login_locked: &'static str,
    pub consent_title: &'static str,
    pub requests_access: &'static str,
    pub purpose: &'static str,
    pub grant_these: &'static str,
    pub valid_until: &'static str,
    pub txn_window: &'static str,
    pub any_time: &'static str,
    pub choose_accounts: &'static str,
    pub choose_one: &'static str,
    pub approve: &'static str,
    pub deny: &'static str,
    pub savings: &'static str,
    pub current: &'static str,
    pub frozen: &'static str,
    pub closed: &'static str,
    pub dashboard_title: &'static str,
    pub no_consents: &'static str,
    pub since: &'static str,
    pub until: &'static str,
    pub revoke: &'static str,
    pub accounts: &'static str,
    pub logout: &'static str,
    pub error_title: &'static str,
    pub bad_request: &'static str,
    pub forbidden: &'static str,
    pub unavailable: &'static str,
    pub not_found: &'static str,
    pub beijing_time: &'static str,
    pub pay_title: &'static str,
    pub pay_requests: &'static str,
    pub payee: &'static str,
    pub amount: &'static str,
    pub single_payment: &'static str,
    pub recurring_payments: &'static str,
    pub per_payment: &'static str,
    pub per_day: &'static str,
    pub per_month: &'static str,
    /// A bulk: how many payees, its total, the number of payments and their list.
    pub payees: &'static str,
    pub total: &'static str,
    pub payment_count: &'static str,
    pub bulk_payments: &'static str,
    pub reference: &'static str,
    pub scenario: &'static str,
    pub choose_debtor: &'static str,
    pub choose_debtor_one: &'static str,
    pub no_debtor: &'static str,
    pub otp_title: &'static str,
    pub otp_sent_to: &'static str,
    pub otp_lead: &'static str,
    pub otp_label: &'static str,
    pub otp_button: &'static str,
    pub otp_wrong: &'static str,
    pub otp_format: &'static str,
    pub otp_gone: &'static str,
}

pub static ZH: Text = Text {
    bank: "Scenegate 银行",
    switch_to: "English",
    login_title: "登录",
    login_lead: "请使用网上银行的登录信息登录。",
    login_id: "手机号或客户号",
    password: "密码",
    login_button: "登录",
    login_failed: "登录信息或密码不正确。",
    login_locked: "尝试次数过多，请 15 分钟后再试。",
    consent_title: "授权请求",
    requests_access: "请求访问您的账户信息",
    purpose: "用途",
    grant_these: "同意授权以下权限",
    valid_until: "有效期至",
    txn_window: "可查询交易的时间范围",
    any_time: "不限",
    choose_accounts: "选择账户",
    choose_one: "请至少选择一个账户。",
    approve: "授权",
    deny: "拒绝",
    savings: "储蓄账户",
    current: "结算账户",
    frozen: "已冻结，不可选",
    closed: "已销户，不可选",
    dashboard_title: "我的授权",
    no_consents: "您还没有向任何第三方授权。",
    since: "授权时间",
    until: "有效期至",
    revoke: "撤销",
    accounts: "账户",
    logout: "退出登录",
    error_title: "无法继续",
    bad_request: "授权请求无效、已使用或已过期。请返回商户应用重新发起。",
    forbidden: "页面已过期或请求无法验证，请返回后重试。",
    unavailable: "服务暂时不可用，请稍后再试。",
    not_found: "未找到该授权。",
    beijing_time: "北京时间",
    pay_title: "支付授权",
    pay_requests: "请求从您的账户付款",
    payee: "收款方",
    amount: "金额",
    single_payment: "单笔支付",
    recurring_payments: "周期性支付（在以下限额内可多次扣款）",
    per_payment: "单笔限额",
    payees: "位收款方",
    total: "合计金额",
    payment_count: "付款笔数",
    bulk_payments: "批量付款明细（每笔单独入账）",
    per_day: "每日限额",
    per_month: "每月限额",
    reference: "附言",
    scenario: "场景",
    choose_debtor: "选择付款账户",
    choose_debtor_one: "请选择一个付款账户。",
    no_debtor: "您没有可用于此币种付款的账户。",
    otp_title: "短信验证",
    otp_sent_to: "验证码已发送至",
    otp_lead: "请输入短信中的 6 位验证码以确认此笔授权。",
    otp_label: "验证码",
    otp_button: "确认",
    otp_wrong: "验证码不正确，请重试。",
    otp_format: "请输入 6 位数字验证码。",
    otp_gone: "验证已结束或已过期。请返回商户应用重新发起。",
};

pub static EN: Text = Text {
    bank: "Scenegate Bank",
    switch_to: "中文",
    login_title: "Log in",
    login_lead: "Log in with your online banking details.",
    login_id: "Mobile number or customer number",
    password: "Password",
    login_button: "Log in",
    login_failed: "The login details or password are not correct.",
    login_locked: "Too many attempts. Please try again in 15 minutes.",
    consent_title: "Authorisation request",
    requests_access: "asks to access your account information",
    purpose: "Purpose",
    grant_these: "Grant the following permissions",
    valid_until: "Valid until",
    txn_window: "Transactions it may read",
    any_time: "any",
    choose_accounts: "Choose accounts",
    choose_one: "Choose at least one account.",
    approve: "Approve",
    deny: "Deny",
    savings: "Savings account",
    current: "Current account",
    frozen: "frozen, cannot be chosen",
    closed: "closed, cannot be chosen",
    dashboard_title: "My authorisations",
    no_consents: "You have not authorised anyone yet.",
    since: "Since",
    until: "Until",
    revoke: "Revoke",
    accounts: "Accounts",
    logout: "Log out",
    error_title: "Cannot continue",
    bad_request: "This authorisation request is invalid, used or expired. Please go back to the app and start again.",
    forbidden: "This page has expired or the request could not be verified. Please go back and try again.",
    unavailable: "The service is temporarily unavailable. Please try again later.",
    not_found: "No such authorisation.",
    beijing_time: "Beijing time",
    pay_title: "Payment authorisation",
    pay_requests: "asks you to authorise a payment from your account",
    payee: "Payee",
    amount: "Amount",
    single_payment: "One payment",
    recurring_payments: "Recurring payments (several, within these limits)",
    per_payment: "Per payment",
    payees: "payees",
    total: "Total",
    payment_count: "Number of payments",
    bulk_payments: "Bulk payment (each booked on its own)",
    per_day: "Per day",
    per_month: "Per month",
    reference: "Reference",
    scenario: "Scenario",
    choose_debtor: "Choose the account to pay from",
    choose_debtor_one: "Choose one account to pay from.",
    no_debtor: "You have no account that can pay in this currency.",
    otp_title: "Confirm with a one-time code",
    otp_sent_to: "A code was sent to",
    otp_lead: "Enter the 6-digit code from the text message to confirm this authorisation.",
    otp_label: "One-time code",
    otp_button: "Confirm",
    otp_wrong: "Wrong code, try again.",
    otp_format: "Enter the 6 digits of the code.",
    otp_gone: "This confirmation has ended or expired. Please go back to the app and start again.",
};

pub fn permission(p: Permission, l: Locale) -> &'static str {
    match (p, l) {
        (Permission::ReadAccountsBasic, Locale::Zh) => "查看账户列表（卡号部分隐藏）",
        (Permission::ReadAccountsBasic, Locale::En) => "See your accounts (numbers partly hidden)",
        (Permission::ReadAccountsDetail, Locale::Zh) => "查看账户详情（完整卡号、户名、开户日期）",
        (Permission::ReadAccountsDetail, Locale::En) => "See account details (full numbers, names, opening dates)",
        (Permission::ReadBalances, Locale::Zh) => "查看账户余额",
        (Permission::ReadBalances, Locale::En) => "See your balances",
        (Permission::ReadTransactionsBasic, Locale::Zh) => "查看交易记录（时间、金额、收支方向）",
        (Permission::ReadTransactionsBasic, Locale::En) => "See your transactions (time, amount, in or out)",
        (Permission::ReadTransactionsDetail, Locale::Zh) => "查看交易详情（摘要、对方户名、交易后余额）",
        (Permission::ReadTransactionsDetail, Locale::En) => {
            "See transaction details (description, counterparty, balance after)"
        }
    }
}

pub fn status(s: ConsentStatus, l: Locale) -> &'static str {
    match (s, l) {
        (ConsentStatus::AwaitingAuthorisation, Locale::Zh) => "待授权",
        (ConsentStatus::AwaitingAuthorisation, Locale::En) => "Awaiting your answer",
        (ConsentStatus::Authorised, Locale::Zh) => "已授权",
        (ConsentStatus::Authorised, Locale::En) => "Authorised",
        (ConsentStatus::Rejected, Locale::Zh) => "已拒绝",
        (ConsentStatus::Rejected, Locale::En) => "Denied",
        (ConsentStatus::Revoked, Locale::Zh) => "已撤销",
        (ConsentStatus::Revoked, Locale::En) => "Revoked",
        (ConsentStatus::Expired, Locale::Zh) => "已过期",
        (ConsentStatus::Expired, Locale::En) => "Expired",
        (ConsentStatus::Consumed, Locale::Zh) => "已使用",
        (ConsentStatus::Consumed, Locale::En) => "Used",
    }
}

pub fn scenario(code: ScenarioCode, l: Locale) -> &'static str {
    match (code, l) {
        (ScenarioCode::EcommerceGoods, Locale::Zh) => "网上购物",
        (ScenarioCode::EcommerceGoods, Locale::En) => "Online shopping",
        (ScenarioCode::BillPayment, Locale::Zh) => "账单缴费",
        (ScenarioCode::BillPayment, Locale::En) => "Bill payment",
        (ScenarioCode::Transport, Locale::Zh) => "交通出行",
        (ScenarioCode::Transport, Locale::En) => "Transport",
        (ScenarioCode::Parking, Locale::Zh) => "停车缴费",
        (ScenarioCode::Parking, Locale::En) => "Parking",
        (ScenarioCode::TopUp, Locale::Zh) => "充值",
        (ScenarioCode::TopUp, Locale::En) => "Top-up",
        (ScenarioCode::Travel, Locale::Zh) => "旅行预订",
        (ScenarioCode::Travel, Locale::En) => "Travel booking",
        (ScenarioCode::Government, Locale::Zh) => "政务缴费",
        (ScenarioCode::Government, Locale::En) => "Government services",
        (ScenarioCode::Other, Locale::Zh) => "其他",
        (ScenarioCode::Other, Locale::En) => "Other",
    }
}

/// Minor units of `currency` as the customer reads them: `CNY 268.00`.
pub fn money(minor: i64, currency: Currency) -> String {
    format!("{} {}", currency.code(), Money::from_minor(minor, currency).amount())
}

/// Unix seconds as a Beijing-time date (`2027-05-01`) or date and time.
pub fn beijing(secs: i64, with_time: bool) -> String {
    let Ok(ts) = jiff::Timestamp::from_second(secs) else { return String::new() };
    let local = ts.to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)));
    local.strftime(if with_time { "%Y-%m-%d %H:%M" } else { "%Y-%m-%d" }).to_string()
}

/// `6222020000000018` → `622202******0018`: first six and last four digits only.
pub fn mask(acct_no: &str) -> String {
    let chars: Vec<char> = acct_no.chars().collect();
    if chars.len() <= 10 {
        return "*".repeat(chars.len().saturating_sub(4))
            + &chars[chars.len().saturating_sub(4)..].iter().collect::<String>();
    }
    let head: String = chars[..6].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_numbers_are_masked_like_the_bank_prints_them() {
        assert_eq!(mask("6222020000000000018"), "622202*********0018");
        assert_eq!(mask("12345"), "*2345");
    }

    #[test]
    fn locales_default_to_chinese() {
        assert_eq!(Locale::from_ui_locales(None), Locale::Zh);
        assert_eq!(Locale::from_ui_locales(Some("fr en-GB")), Locale::En);
        assert_eq!(Locale::from_ui_locales(Some("fr")), Locale::Zh);
        assert_eq!(beijing(0, true), "1970-01-01 08:00");
        assert_eq!(money(26_800, Currency::Cny), "CNY 268.00");
    }
}
