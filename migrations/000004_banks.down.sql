DROP TABLE banks;
