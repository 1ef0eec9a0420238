ALTER TABLE runs DROP COLUMN no_boot_test;
