-- The platform database (one schema per service) and the key store's own database.
CREATE DATABASE marketplace;
CREATE DATABASE keystore;
