// Connects with PgJDBC using the files pgcert writes, as a Java application would.
// usage: java -cp postgresql.jar JdbcConnect.java URL USER ROOT CERT KEY [KEYPASSWORD]
// prints "current_user ssl" on success; exits 1 with the driver's message otherwise.
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.util.Properties;

public class JdbcConnect {
    public static void main(String[] a) {
        Properties p = new Properties();
        p.setProperty("user", a[1]);
        p.setProperty("sslmode", "verify-full");
        p.setProperty("sslrootcert", a[2]);
        p.setProperty("sslcert", a[3]);
        p.setProperty("sslkey", a[4]);
        if (a.length > 5) {
            p.setProperty("sslpassword", a[5]);
        }
        try (Connection c = DriverManager.getConnection(a[0], p);
             ResultSet r = c.createStatement().executeQuery(
                 "select current_user, ssl from pg_stat_ssl where pid = pg_backend_pid()")) {
            r.next();
            System.out.println(r.getString(1) + " " + r.getBoolean(2));
        } catch (Exception e) {
            System.out.println("FAILED: " + e);
            System.exit(1);
        }
    }
}
