// The Catalog contract against the embedded StoreCatalog over an in-memory store and a local warehouse.
import { localWarehouse } from "../helpers/tables.ts";
import { catalogContract } from "./catalog-contract.ts";

catalogContract(async (t) => localWarehouse(t));
