//! A list's state: what the person chose (search, filters, creation dates,
//! order, page) and the pure function from the rows a Describe action gave to
//! the rows shown. Lists read every row (`PageSize: 100`, every page) and
//! filter, order and page in the browser, so the same rules serve every list.
//!
//! Every choice but the page goes back to the first page. The order is the
//! creation time (ISO 8601, so text order is time order), newest first until
//! toggled; rows created in the same second keep the API's order, and oldest
//! first is exactly the reverse of newest first.

use super::rows::{DiskRow, ImageRow, InstanceRow, SnapshotRow};

/// Rows on one page of the console's lists.
pub const PER_PAGE: usize = 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// As the API returns them (lists without a sort toggle).
    Api,
    NewestFirst,
    OldestFirst,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ListState {
    /// As typed; matched trimmed and in any case.
    pub search: String,
    /// (field, choice) of each filter set so far; `""` admits every row.
    pub filters: Vec<(&'static str, String)>,
    /// Creation dates, `YYYY-MM-DD` in UTC as the tables show them; `""` leaves that end open.
    pub created_from: String,
    pub created_to: String,
    pub order: Order,
    /// Asked for; `show` clamps it to the last page.
    pub page: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ListAction {
    Search(String),
    /// A filter's field (its ECS name, as `Row::field` knows it) and choice.
    Filter(&'static str, String),
    CreatedFrom(String),
    CreatedTo(String),
    ClearDates,
    ToggleOrder,
    Page(usize),
}

/// What a list needs of its rows.
pub trait Row {
    /// The texts the search box looks in.
    fn search_text(&self) -> Vec<&str>;

    /// A field filters select on, by its ECS name (None: no such field, and
    /// a filter on it admits nothing but "all").
    fn field(&self, name: &str) -> Option<&str> {
        let _ = name;
        None
    }

    fn creation_time(&self) -> &str {
        ""
    }
}

/// One page of a list.
#[derive(Debug, PartialEq)]
pub struct Shown<'a, T> {
    pub rows: Vec<&'a T>,
    /// Rows the action returned.
    pub total: usize,
    /// Rows the search and filters admit.
    pub matched: usize,
    /// The page shown (0-based) and the number of pages (at least 1).
    pub page: usize,
    pub pages: usize,
}

impl Default for ListState {
    fn default() -> Self {
        ListState::newest_first()
    }
}

impl ListState {
    pub fn newest_first() -> Self {
        ListState { search: String::new(), filters: Vec::new(), created_from: String::new(), created_to: String::new(), order: Order::NewestFirst, page: 0 }
    }

    /// A list shown in the API's order.
    pub fn unordered() -> Self {
        ListState { order: Order::Api, ..ListState::newest_first() }
    }

    /// The reducer.
    pub fn reduce(mut self, action: ListAction) -> Self {
        match action {
            ListAction::Page(n) => return ListState { page: n, ..self },
            ListAction::Search(s) => self.search = s,
            ListAction::Filter(field, choice) => match self.filters.iter_mut().find(|(f, _)| *f == field) {
                Some(slot) => slot.1 = choice,
                None => self.filters.push((field, choice)),
            },
            ListAction::CreatedFrom(d) => self.created_from = d,
            ListAction::CreatedTo(d) => self.created_to = d,
            ListAction::ClearDates => (self.created_from, self.created_to) = (String::new(), String::new()),
            ListAction::ToggleOrder => {
                self.order = match self.order {
                    Order::Api => Order::Api,
                    Order::NewestFirst => Order::OldestFirst,
                    Order::OldestFirst => Order::NewestFirst,
                }
            }
        }
        self.page = 0;
        self
    }

    /// A filter's choice (`""`: all).
    pub fn choice(&self, field: &str) -> &str {
        self.filters.iter().find(|(f, _)| *f == field).map(|(_, c)| c.as_str()).unwrap_or("")
    }

    /// Whether a creation date bounds the list.
    pub fn dated(&self) -> bool {
        !self.created_from.is_empty() || !self.created_to.is_empty()
    }

    /// Whether the start date is after the end date (nothing can match).
    pub fn backwards(&self) -> bool {
        !self.created_from.is_empty() && !self.created_to.is_empty() && self.created_from > self.created_to
    }

    /// The same choices, but a choice of `field` outside `allowed` filters
    /// nothing (a zone of another region, after the region changed).
    pub fn within(&self, field: &str, allowed: &[&str]) -> ListState {
        let mut s = self.clone();
        for (f, c) in &mut s.filters {
            if *f == field && !allowed.contains(&c.as_str()) {
                c.clear();
            }
        }
        s
    }

    /// Whether the search, filters and dates admit `row` (`needle`: the search, trimmed and lower-cased).
    fn admits(&self, row: &dyn Row, needle: &str) -> bool {
        (needle.is_empty() || row.search_text().iter().any(|t| t.to_lowercase().contains(needle)))
            && self.filters.iter().all(|(f, c)| c.is_empty() || row.field(f) == Some(c.as_str()))
            && created_within(row.creation_time(), &self.created_from, &self.created_to)
    }

    /// The rows on the page shown, in order.
    pub fn show<'a, T: Row>(&self, rows: &'a [T]) -> Shown<'a, T> {
        let dyns: Vec<&dyn Row> = rows.iter().map(|r| r as &dyn Row).collect();
        let (picked, matched, page, pages) = self.pick(&dyns);
        Shown { rows: picked.into_iter().map(|i| &rows[i]).collect(), total: rows.len(), matched, page, pages }
    }

    /// `show` without the row type: indices of the page's rows, the rows
    /// matched, the page and the number of pages.
    fn pick(&self, rows: &[&dyn Row]) -> (Vec<usize>, usize, usize, usize) {
        let needle = self.search.trim().to_lowercase();
        let mut picked: Vec<usize> = (0..rows.len()).filter(|&i| self.admits(rows[i], &needle)).collect();
        if self.order != Order::Api {
            // Newest first, ties in the order given (an unstable sort with the
            // index as the tie-break: one sort less in the bundle).
            picked.sort_unstable_by(|&a, &b| rows[b].creation_time().cmp(rows[a].creation_time()).then(a.cmp(&b)));
            if self.order == Order::OldestFirst {
                picked.reverse();
            }
        }
        let (matched, (picked, page, pages)) = (picked.len(), paginate(picked, self.page));
        (picked, matched, page, pages)
    }
}

/// One page of `rows`: the rows on it, the page shown (`page` clamped to the
/// last one) and the number of pages (at least 1).
pub fn paginate<T>(rows: Vec<T>, page: usize) -> (Vec<T>, usize, usize) {
    let pages = rows.len().div_ceil(PER_PAGE).max(1);
    let current = page.min(pages - 1);
    (rows.into_iter().skip(current * PER_PAGE).take(PER_PAGE).collect(), current, pages)
}

/// Whether an ECS creation time (`2026-11-21T10:00:00Z`) falls on or
/// between the dates `from` and `to` (`YYYY-MM-DD`, UTC; `""` leaves that end
/// open). ISO dates compare as text.
pub fn created_within(time: &str, from: &str, to: &str) -> bool {
    let day = time.get(..10).unwrap_or(time);
    (from.is_empty() || day >= from) && (to.is_empty() || day <= to)
}

impl Row for InstanceRow {
    fn search_text(&self) -> Vec<&str> {
        vec![&self.instance_id, &self.instance_name, &self.status]
    }

    fn field(&self, name: &str) -> Option<&str> {
        Some(match name {
            "Status" => &self.status,
            "ZoneId" => &self.zone_id,
            "InstanceType" => &self.instance_type,
            _ => return None,
        })
    }

    fn creation_time(&self) -> &str {
        &self.creation_time
    }
}

impl Row for DiskRow {
    fn search_text(&self) -> Vec<&str> {
        vec![&self.disk_id, &self.disk_name]
    }

    fn field(&self, name: &str) -> Option<&str> {
        Some(match name {
            "Status" => &self.status,
            "Category" => &self.category,
            "Type" => &self.kind,
            _ => return None,
        })
    }

    fn creation_time(&self) -> &str {
        &self.creation_time
    }
}

impl Row for SnapshotRow {
    fn search_text(&self) -> Vec<&str> {
        vec![&self.snapshot_id, &self.snapshot_name, &self.source_disk_id]
    }

    fn field(&self, name: &str) -> Option<&str> {
        Some(match name {
            "Category" => &self.category,
            "Status" => &self.status,
            "SnapshotType" => &self.snapshot_type,
            "SourceDiskType" => &self.source_disk_type,
            _ => return None,
        })
    }

    fn creation_time(&self) -> &str {
        &self.creation_time
    }
}

impl Row for ImageRow {
    fn search_text(&self) -> Vec<&str> {
        vec![&self.image_id, &self.image_name]
    }

    fn field(&self, name: &str) -> Option<&str> {
        (name == "ImageOwnerAlias").then_some(self.image_owner_alias.as_str())
    }

    fn creation_time(&self) -> &str {
        &self.creation_time
    }
}

/// A select that filters a list by one field of its rows.
#[derive(Debug, PartialEq)]
pub struct Filter {
    /// The field (its ECS name, as `Row::field` knows it).
    pub field: &'static str,
    /// The select's label.
    pub label: &'static str,
    /// The first option's text: every row (value `""`).
    pub all: &'static str,
    /// (value, text); empty when the page gives them (the region's zones).
    pub options: &'static [(&'static str, &'static str)],
}

/// The instance types RunInstances offers (the Create Instance dialog's list).
pub const INSTANCE_TYPES: &[&str] = &["ecs.g7.large", "ecs.g7.xlarge", "ecs.c7.large", "ecs.r7.large", "ecs.t6-c1m1.large"];

pub const INSTANCE_FILTERS: [Filter; 3] = [
    Filter {
        field: "Status",
        label: "Status",
        all: "All statuses",
        options: &[("Running", "Running"), ("Stopped", "Stopped"), ("Pending", "Pending"), ("Starting", "Starting"), ("Stopping", "Stopping")],
    },
    Filter { field: "ZoneId", label: "Zone", all: "All zones", options: &[] },
    Filter {
        field: "InstanceType",
        label: "Instance Type",
        all: "All instance types",
        options: &[
            ("ecs.g7.large", "ecs.g7.large"),
            ("ecs.g7.xlarge", "ecs.g7.xlarge"),
            ("ecs.c7.large", "ecs.c7.large"),
            ("ecs.r7.large", "ecs.r7.large"),
            ("ecs.t6-c1m1.large", "ecs.t6-c1m1.large"),
        ],
    },
];

pub const DISK_FILTERS: [Filter; 3] = [
    Filter {
        field: "Status",
        label: "Status",
        all: "All statuses",
        options: &[
            ("In_use", "In Use"),
            ("Available", "Available"),
            ("Attaching", "Attaching"),
            ("Detaching", "Detaching"),
            ("Creating", "Creating"),
            ("ReIniting", "Re-initializing"),
        ],
    },
    Filter {
        field: "Category",
        label: "Category",
        all: "All categories",
        options: &[
            ("cloud_essd", "ESSD (cloud_essd)"),
            ("cloud_ssd", "Standard SSD (cloud_ssd)"),
            ("cloud_efficiency", "Ultra Disk (cloud_efficiency)"),
            ("cloud", "Basic Disk (cloud)"),
        ],
    },
    Filter { field: "Type", label: "Disk Type", all: "System and data disks", options: &[("system", "System Disk"), ("data", "Data Disk")] },
];

pub const SNAPSHOT_FILTERS: [Filter; 4] = [
    Filter { field: "Category", label: "Category", all: "All categories", options: &[("standard", "Normal Snapshot"), ("flash", "Local Snapshot")] },
    Filter { field: "Status", label: "Status", all: "All statuses", options: &[("progressing", "Progressing"), ("accomplished", "Accomplished")] },
    Filter { field: "SnapshotType", label: "Snapshot Type", all: "All types", options: &[("user", "Manual"), ("auto", "Automatic")] },
    Filter { field: "SourceDiskType", label: "Source Disk Type", all: "System and data disks", options: &[("system", "System disks"), ("data", "Data disks")] },
];

pub const IMAGE_FILTERS: [Filter; 1] =
    [Filter { field: "ImageOwnerAlias", label: "Image Type", all: "All Images", options: &[("self", "Custom Images"), ("system", "Public Images")] }];

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(id: &str, name: &str, created: &str, category: &str) -> SnapshotRow {
        SnapshotRow { snapshot_id: id.into(), snapshot_name: name.into(), creation_time: created.into(), category: category.into(), ..Default::default() }
    }

    fn ids<'a>(s: &Shown<'a, SnapshotRow>) -> Vec<&'a str> {
        s.rows.iter().map(|r| r.snapshot_id.as_str()).collect()
    }

    fn state(actions: Vec<ListAction>) -> ListState {
        actions.into_iter().fold(ListState::newest_first(), ListState::reduce)
    }

    #[test]
    fn every_choice_but_the_page_goes_back_to_the_first_page() {
        let at = |a: ListAction| state(vec![ListAction::Page(3), a]).page;
        assert_eq!(at(ListAction::Page(5)), 5);
        for a in [
            ListAction::Search("x".into()),
            ListAction::Filter("Status", "accomplished".into()),
            ListAction::CreatedFrom("2026-01-01".into()),
            ListAction::CreatedTo("2026-01-01".into()),
            ListAction::ClearDates,
            ListAction::ToggleOrder,
        ] {
            assert_eq!(at(a.clone()), 0, "{a:?}");
        }
    }

    #[test]
    fn filters_are_set_replaced_and_read_by_field() {
        let s = state(vec![ListAction::Filter("Status", "a".into()), ListAction::Filter("Category", "c".into()), ListAction::Filter("Status", "b".into())]);
        assert_eq!((s.choice("Status"), s.choice("Category"), s.choice("Zone")), ("b", "c", ""));
        assert_eq!(s.filters.len(), 2);
    }

    #[test]
    fn order_toggles_and_an_unordered_list_stays_so() {
        let s = state(vec![ListAction::ToggleOrder]);
        assert_eq!(s.order, Order::OldestFirst);
        assert_eq!(s.reduce(ListAction::ToggleOrder).order, Order::NewestFirst);
        assert_eq!(ListState::unordered().reduce(ListAction::ToggleOrder).order, Order::Api);
    }

    #[test]
    fn newest_first_keeps_the_api_order_within_a_second_and_oldest_first_is_its_reverse() {
        let rows = vec![
            snap("s-3", "", "2026-01-02T00:00:00Z", ""),
            snap("s-1", "", "2026-01-01T00:00:00Z", ""),
            snap("s-5", "", "2026-01-03T00:00:00Z", ""),
            snap("s-2b", "", "2026-01-02T00:00:00Z", ""),
        ];
        let newest = ListState::newest_first();
        assert_eq!(ids(&newest.show(&rows)), ["s-5", "s-3", "s-2b", "s-1"]);
        let oldest = newest.reduce(ListAction::ToggleOrder);
        assert_eq!(ids(&oldest.show(&rows)), ["s-1", "s-2b", "s-3", "s-5"]);
        assert_eq!(ids(&ListState::unordered().show(&rows)), ["s-3", "s-1", "s-5", "s-2b"]);
    }

    #[test]
    fn search_is_trimmed_in_any_case_over_the_rows_texts() {
        let rows = vec![snap("s-1", "Nightly", "", ""), snap("s-2", "weekly", "", "")];
        let s = state(vec![ListAction::Search("  NIGHT ".into())]);
        let shown = s.show(&rows);
        assert_eq!((ids(&shown), shown.matched, shown.total), (vec!["s-1"], 1, 2));
        assert_eq!(state(vec![ListAction::Search("S-".into())]).show(&rows).matched, 2);
    }

    #[test]
    fn filters_admit_their_choice_and_unknown_fields_admit_nothing() {
        let rows = vec![snap("s-1", "", "", "flash"), snap("s-2", "", "", "standard")];
        assert_eq!(ids(&state(vec![ListAction::Filter("Category", "flash".into())]).show(&rows)), ["s-1"]);
        assert_eq!(state(vec![ListAction::Filter("Category", String::new())]).show(&rows).matched, 2);
        assert_eq!(state(vec![ListAction::Filter("Nope", "x".into())]).show(&rows).matched, 0);
    }

    #[test]
    fn a_choice_outside_the_allowed_filters_nothing() {
        let rows = vec![
            InstanceRow { instance_id: "i-1".into(), zone_id: "cn-hangzhou-i".into(), ..Default::default() },
            InstanceRow { instance_id: "i-2".into(), zone_id: "cn-hangzhou-j".into(), ..Default::default() },
        ];
        let s = ListState::newest_first().reduce(ListAction::Filter("ZoneId", "cn-hangzhou-i".into()));
        assert_eq!(s.within("ZoneId", &["cn-hangzhou-i", "cn-hangzhou-j"]).show(&rows).matched, 1);
        let other = s.within("ZoneId", &["cn-shanghai-a"]);
        assert_eq!((other.show(&rows).matched, other.choice("ZoneId")), (2, ""));
        assert_eq!(s.choice("ZoneId"), "cn-hangzhou-i", "the choice itself is kept");
    }

    #[test]
    fn creation_dates_bound_the_list_inclusively() {
        let rows = vec![snap("s-1", "", "2026-01-01T23:59:59Z", ""), snap("s-2", "", "2026-01-02T00:00:00Z", ""), snap("s-3", "", "2026-01-03T00:00:00Z", "")];
        let s = state(vec![ListAction::CreatedFrom("2026-01-02".into())]);
        assert!(s.dated() && !s.backwards());
        assert_eq!(ids(&s.show(&rows)), ["s-3", "s-2"]);
        let s = s.reduce(ListAction::CreatedTo("2026-01-02".into()));
        assert_eq!(ids(&s.show(&rows)), ["s-2"]);
        let s = s.reduce(ListAction::CreatedFrom("2026-01-03".into()));
        assert!(s.backwards());
        assert_eq!(s.show(&rows).matched, 0);
        let s = s.reduce(ListAction::ClearDates);
        assert!(!s.dated());
        assert_eq!(s.show(&rows).matched, 3);
    }

    #[test]
    fn pages_hold_twenty_rows_and_a_page_past_the_end_shows_the_last() {
        let rows: Vec<SnapshotRow> = (0..45).map(|i| snap(&format!("s-{i:02}"), "", &format!("2026-01-01T00:00:{i:02}Z"), "")).collect();
        let first = ListState::newest_first().show(&rows);
        assert_eq!((first.rows.len(), first.page, first.pages, first.matched, first.total), (20, 0, 3, 45, 45));
        assert_eq!(first.rows[0].snapshot_id, "s-44");
        let last = ListState::newest_first().reduce(ListAction::Page(9)).show(&rows);
        assert_eq!((last.rows.len(), last.page), (5, 2));
        assert_eq!(last.rows[4].snapshot_id, "s-00");
        let none: Vec<SnapshotRow> = Vec::new();
        let empty = ListState::newest_first().show(&none);
        assert_eq!((empty.rows.len(), empty.page, empty.pages), (0, 0, 1));
    }

    #[test]
    fn every_filter_is_a_field_of_its_row() {
        let fields = |fs: &[Filter], row: &dyn Row| fs.iter().all(|f| row.field(f.field).is_some());
        assert!(fields(&INSTANCE_FILTERS, &InstanceRow::default()));
        assert!(fields(&DISK_FILTERS, &DiskRow::default()));
        assert!(fields(&SNAPSHOT_FILTERS, &SnapshotRow::default()));
        assert!(fields(&IMAGE_FILTERS, &ImageRow::default()));
        let types: Vec<&str> = INSTANCE_FILTERS[2].options.iter().map(|o| o.0).collect();
        assert_eq!(types, INSTANCE_TYPES);
    }
}
