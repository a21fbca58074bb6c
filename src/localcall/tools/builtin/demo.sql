-- The demo database behind the query_database tool: a small shop with subscriptions,
-- billing and orders, the scenarios the tutorials use (subscription status, latest invoice,
-- product search, order lookup).

CREATE TABLE customers (
    id          TEXT PRIMARY KEY,          -- e.g. 'cust_abc123'
    name        TEXT NOT NULL,
    email       TEXT NOT NULL,
    city        TEXT NOT NULL,
    created_on  TEXT NOT NULL              -- ISO date
);

CREATE TABLE products (
    id        INTEGER PRIMARY KEY,
    name      TEXT NOT NULL,
    category  TEXT NOT NULL CHECK (category IN ('electronics', 'clothing', 'books', 'home')),
    price     REAL NOT NULL,               -- USD
    in_stock  INTEGER NOT NULL             -- 1 = yes, 0 = no
);

CREATE TABLE subscriptions (
    id           INTEGER PRIMARY KEY,
    customer_id  TEXT NOT NULL REFERENCES customers(id),
    plan         TEXT NOT NULL CHECK (plan IN ('free', 'basic', 'pro', 'enterprise')),
    status       TEXT NOT NULL CHECK (status IN ('active', 'past_due', 'cancelled', 'expired')),
    started_on   TEXT NOT NULL,
    renews_on    TEXT,                      -- NULL once cancelled or expired
    monthly_fee  REAL NOT NULL
);

CREATE TABLE invoices (
    id           TEXT PRIMARY KEY,          -- e.g. 'inv_1001'
    customer_id  TEXT NOT NULL REFERENCES customers(id),
    issued_on    TEXT NOT NULL,
    due_on       TEXT NOT NULL,
    amount       REAL NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('paid', 'open', 'overdue', 'void'))
);

CREATE TABLE orders (
    id           INTEGER PRIMARY KEY,       -- the order number, e.g. 4521
    customer_id  TEXT NOT NULL REFERENCES customers(id),
    product_id   INTEGER NOT NULL REFERENCES products(id),
    quantity     INTEGER NOT NULL,
    total        REAL NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('placed', 'shipped', 'delivered', 'returned', 'cancelled')),
    placed_on    TEXT NOT NULL
);

INSERT INTO customers VALUES
    ('cust_abc123', 'Ada Lovelace',     'ada@example.com',     'London',   '2023-02-11'),
    ('cust_def456', 'Kenji Sato',       'kenji@example.com',   'Tokyo',    '2023-06-30'),
    ('cust_ghi789', 'Maria Garcia',     'maria@example.com',   'New York', '2024-01-05'),
    ('cust_jkl012', 'Lena Fischer',     'lena@example.com',    'Berlin',   '2024-03-22'),
    ('cust_mno345', 'Samuel Okafor',    'samuel@example.com',  'Lagos',    '2024-09-14');

INSERT INTO products VALUES
    (1, 'Wireless headphones',     'electronics', 89.99,  1),
    (2, 'Noise-cancelling earbuds', 'electronics', 149.00, 0),
    (3, 'USB-C charger 65W',       'electronics', 39.50,  1),
    (4, 'Rain jacket',             'clothing',    120.00, 1),
    (5, 'Wool socks (3 pairs)',    'clothing',    24.00,  1),
    (6, 'The Pragmatic Programmer', 'books',      42.00,  1),
    (7, 'Designing Data-Intensive Applications', 'books', 55.00, 0),
    (8, 'Cast-iron skillet',       'home',        35.00,  1),
    (9, 'Desk lamp',               'home',        29.90,  1);

INSERT INTO subscriptions VALUES
    (1, 'cust_abc123', 'pro',        'active',    '2023-03-15', '2026-03-15', 29.00),
    (2, 'cust_def456', 'basic',      'past_due',  '2023-07-01', '2026-01-01', 9.00),
    (3, 'cust_ghi789', 'enterprise', 'active',    '2024-01-05', '2026-07-05', 199.00),
    (4, 'cust_jkl012', 'pro',        'cancelled', '2024-03-22', NULL,         29.00),
    (5, 'cust_mno345', 'free',       'active',    '2024-09-14', NULL,         0.00);

INSERT INTO invoices VALUES
    ('inv_1001', 'cust_abc123', '2025-12-15', '2025-12-29', 29.00,  'paid'),
    ('inv_1002', 'cust_abc123', '2026-01-15', '2026-01-29', 29.00,  'paid'),
    ('inv_1003', 'cust_abc123', '2026-02-15', '2026-03-01', 29.00,  'open'),
    ('inv_1004', 'cust_def456', '2025-12-01', '2025-12-15', 9.00,   'paid'),
    ('inv_1005', 'cust_def456', '2026-01-01', '2026-01-15', 9.00,   'overdue'),
    ('inv_1006', 'cust_ghi789', '2026-01-05', '2026-02-04', 199.00, 'paid'),
    ('inv_1007', 'cust_ghi789', '2026-02-05', '2026-03-07', 199.00, 'open'),
    ('inv_1008', 'cust_jkl012', '2024-11-22', '2024-12-06', 29.00,  'void');

INSERT INTO orders VALUES
    (4519, 'cust_def456', 1, 1, 89.99,  'delivered', '2026-01-20'),
    (4520, 'cust_abc123', 6, 2, 84.00,  'shipped',   '2026-02-10'),
    (4521, 'cust_ghi789', 4, 1, 120.00, 'shipped',   '2026-02-18'),
    (4522, 'cust_jkl012', 8, 1, 35.00,  'returned',  '2026-02-19'),
    (4523, 'cust_abc123', 3, 3, 118.50, 'placed',    '2026-02-27'),
    (4524, 'cust_mno345', 9, 1, 29.90,  'cancelled', '2026-03-01');
