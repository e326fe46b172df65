/**
 * The small shop schema the Kafka end-to-end tests replicate (customers, orders), the queries that read
 * it the way the lake prints it, and one step of their workload: a multi-table transaction, then now
 * and then a delete, a primary-key change and a new customer.
 */
import type pg from "pg";

export const SHOP_DDL = `
  create table customers (id integer primary key, name text not null, balance numeric(12,2));
  create table orders (id bigint primary key, customer_id integer, total numeric(10,2), note text);
  insert into customers select i, 'c' || i, i * 1.5 from generate_series(1, 50) i;
  insert into orders select i, i % 50 + 1, i * 2.25, null from generate_series(1, 100) i;
`;

/** Iceberg table → the PostgreSQL query whose rows it must hold (see test/helpers/equality.ts). */
export const SHOP_TABLES = {
  customers: "select id::text as id, name, balance::text as balance from customers",
  orders: "select id::text as id, customer_id::text as customer_id, total::text as total, note from orders",
} as const;

/** Step `i` of the workload; order ids are 1000 + i. `deleteCustomers` also deletes customers it added. */
export async function shopStep(
  sql: pg.Client,
  i: number,
  options: { deleteCustomers?: boolean } = {},
): Promise<void> {
  const order = 1000 + i;
  const c = 1 + ((i * 7) % 50);
  await sql.query("begin");
  await sql.query("update customers set balance = balance + 1, name = name || '+' where id = $1", [c]);
  await sql.query("insert into orders values ($1, $2, $3, $4)", [order, c, i + 0.5, `round ${i}`]);
  await sql.query("update orders set total = total + 10 where id = $1", [1 + (i % 100)]);
  await sql.query("commit");
  if (i % 5 === 0) await sql.query("delete from orders where id = $1", [order - 3]);
  if (i % 9 === 0) await sql.query("update orders set id = id + 100000 where id = $1", [1 + ((i * 3) % 100)]);
  if (i % 11 === 0) await sql.query("insert into customers values ($1, 'new', 0)", [1000 + i]);
  if (options.deleteCustomers && i % 13 === 0)
    await sql.query("delete from customers where id = $1", [1000 + i - 11]);
}
