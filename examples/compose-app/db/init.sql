-- Run by mariadbd at every start (--init-file): the app's database, table and user.
-- The password is for this example only; a real one comes from a secret.
CREATE DATABASE IF NOT EXISTS notes;
CREATE TABLE IF NOT EXISTS notes.notes (
  id INT AUTO_INCREMENT PRIMARY KEY,
  text VARCHAR(500) NOT NULL,
  created TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE USER IF NOT EXISTS 'web'@'%' IDENTIFIED BY 'web-example-password';
GRANT SELECT, INSERT ON notes.* TO 'web'@'%';
